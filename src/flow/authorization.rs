//! The authorization code flow (OID4VCI 1.0 section 5; RFC 6749, 7636 PKCE,
//! 9126 PAR, 9207 `iss`, 9396 `authorization_details`): build the browser URL,
//! then check the redirect the app hands back and exchange the code.

use super::saved::{restore_state, save_state, SavedKind};

use super::authorized::Authorized;

use super::discovery::DiscoveredMetadata;
use super::driver::{capabilities, dpop_for, require_client_id, run_at, Driver};
use super::token::TokenExchange;
use super::{expect_json, EngineConfig, Exchange, Progress};
use crate::error::{
    display_url, sanitize, CallbackError, Endpoint, Error, ErrorCode, Result, ServerError,
};
use crate::http::{HttpRequest, HttpResponse};
use crate::jose::{b64, DpopState};
use crate::types::{IssuerState, PkceVerifier, TokenResponse};
use serde::{Deserialize, Serialize};

/// How to ask for the credentials at the authorization server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum RequestMode {
    /// `scope` when every requested configuration has one, else
    /// `authorization_details`.
    #[default]
    Auto,
    /// The configurations' `scope` values.
    Scope,
    /// `authorization_details` of type `openid_credential`.
    AuthorizationDetails,
}

/// Creates an S256 PKCE challenge for a verifier.
pub(crate) fn pkce_challenge(verifier: &PkceVerifier) -> String {
    b64(crate::jose::sha256(verifier.secret().as_bytes()))
}

/// The start of an authorization code flow: issuer context, what to request,
/// and the `issuer_state` from the offer (if any).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthorizationCodeStep {
    pub(crate) context: DiscoveredMetadata,
    pub(crate) configuration_ids: Vec<String>,
    pub(crate) issuer_state: Option<IssuerState>,
    #[serde(default)]
    pub(crate) capabilities: super::Capabilities,
}

/// Fresh secrets for one authorization (the driver draws them from the OS RNG).
#[derive(Debug, Clone)]
pub struct AuthorizationSecrets {
    /// PKCE verifier (43-128 unreserved characters).
    pub verifier: PkceVerifier,
    /// `state`.
    pub state: String,
    /// A fresh DPoP key, used when the authorization server advertises DPoP
    /// (ES256); `None` never uses DPoP.
    pub dpop: Option<DpopState>,
}

impl AuthorizationCodeStep {
    /// A step for these configurations (an offer's, or the app's own choice).
    pub fn new(
        context: DiscoveredMetadata,
        configuration_ids: Vec<String>,
        issuer_state: Option<IssuerState>,
    ) -> Result<Self> {
        if configuration_ids.is_empty() {
            return Err(Error::InvalidState(
                "no credential configuration to request".into(),
            ));
        }
        for id in &configuration_ids {
            context.configuration(id)?;
        }
        if context
            .authorization_server
            .authorization_endpoint
            .is_none()
        {
            return Err(Error::metadata(
                crate::error::Document::AuthorizationServerMetadata,
                &context.authorization_server.issuer,
                "field authorization_endpoint: missing (needed for the authorization code flow)",
            ));
        }
        Ok(Self {
            context,
            configuration_ids,
            issuer_state,
            capabilities: super::Capabilities::default(),
        })
    }

    /// What the wallet can do, for the check before the authorization
    /// request.
    pub fn with_capabilities(mut self, capabilities: super::Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// The configurations this authorization asks for.
    pub fn configuration_ids(&self) -> &[String] {
        &self.configuration_ids
    }

    /// The authorization request parameters (everything but `request_uri`).
    pub fn parameters(
        &self,
        client_id: &str,
        redirect_uri: &str,
        mode: RequestMode,
        secrets: &AuthorizationSecrets,
    ) -> Result<Vec<(String, String)>> {
        let mut params = vec![
            ("response_type".to_string(), "code".to_string()),
            ("client_id".into(), client_id.to_string()),
            ("redirect_uri".into(), redirect_uri.to_string()),
            ("state".into(), secrets.state.clone()),
            ("code_challenge".into(), pkce_challenge(&secrets.verifier)),
            ("code_challenge_method".into(), "S256".into()),
        ];
        let scopes: Option<Vec<String>> = self
            .configuration_ids
            .iter()
            .map(|id| {
                self.context
                    .configuration(id)
                    .ok()
                    .and_then(|c| c.scope.clone())
            })
            .collect();
        let separate_as = self.context.issuer.authorization_servers.is_some();
        let use_scope = match (mode, &scopes) {
            (RequestMode::Scope, None) => {
                return Err(Error::InvalidState(
                    "a requested configuration has no scope; use authorization_details".into(),
                ))
            }
            (RequestMode::Scope, Some(_)) => true,
            (RequestMode::AuthorizationDetails, _) => false,
            (RequestMode::Auto, s) => s.is_some(),
        };
        if use_scope {
            let mut list = scopes.unwrap_or_default();
            list.dedup();
            params.push(("scope".into(), list.join(" ")));
            if separate_as {
                params.push(("resource".into(), self.context.issuer_id().to_string()));
            }
        } else {
            let details: Vec<serde_json::Value> = self
                .configuration_ids
                .iter()
                .map(|id| {
                    let mut d = serde_json::json!({"type": "openid_credential", "credential_configuration_id": id});
                    if separate_as {
                        d["locations"] = serde_json::json!([self.context.issuer_id()]);
                    }
                    d
                })
                .collect();
            params.push((
                "authorization_details".into(),
                serde_json::Value::Array(details).to_string(),
            ));
        }
        if let Some(s) = &self.issuer_state {
            params.push(("issuer_state".into(), s.secret().to_string()));
        }
        if let Some(dpop) = self.dpop(secrets) {
            // RFC 9449 section 10: binds the code to the DPoP key.
            params.push(("dpop_jkt".into(), dpop.thumbprint()?));
        }
        Ok(params)
    }

    /// The DPoP key of `secrets` when the authorization server uses DPoP.
    fn dpop<'a>(&self, secrets: &'a AuthorizationSecrets) -> Option<&'a DpopState> {
        secrets
            .dpop
            .as_ref()
            .filter(|_| DpopState::wanted_by(&self.context.authorization_server))
    }

    /// Begins: with PAR when the server offers it, else a plain browser URL.
    pub fn begin(
        self,
        client_id: &str,
        redirect_uri: &str,
        mode: RequestMode,
        secrets: AuthorizationSecrets,
    ) -> Result<AuthorizationBegin> {
        // Refuse before the user logs in for an issuance that cannot finish.
        self.context
            .can_issue_any(&self.configuration_ids, self.capabilities)?;
        let params = self.parameters(client_id, redirect_uri, mode, &secrets)?;
        let as_md = &self.context.authorization_server;
        let authorization_endpoint = as_md.authorization_endpoint.clone().unwrap_or_default();
        let dpop = self.dpop(&secrets).cloned();
        let pending = PendingAuthorization {
            dpop,
            context: self.context.clone(),
            configuration_ids: self.configuration_ids,
            client_id: client_id.to_string(),
            redirect_uri: redirect_uri.to_string(),
            verifier: secrets.verifier,
            state: secrets.state,
            url: String::new(),
        };
        match &as_md.pushed_authorization_request_endpoint {
            Some(par) => Ok(AuthorizationBegin::Pushed(ParExchange {
                url: par.clone(),
                params,
                authorization_endpoint,
                pending,
            })),
            None if as_md.require_pushed_authorization_requests == Some(true) => Err(Error::metadata(
                crate::error::Document::AuthorizationServerMetadata,
                &as_md.issuer,
                "require_pushed_authorization_requests is set but there is no pushed_authorization_request_endpoint",
            )),
            None => {
                let url = with_query(&authorization_endpoint, &params)?;
                Ok(AuthorizationBegin::Ready(PendingAuthorization { url, ..pending }))
            }
        }
    }
}

fn with_query(endpoint: &str, params: &[(String, String)]) -> Result<String> {
    let mut url = url::Url::parse(endpoint)
        .map_err(|e| Error::InvalidState(format!("authorization_endpoint is not a URL: {e}")))?;
    url.query_pairs_mut().extend_pairs(params);
    Ok(url.into())
}

/// What [`AuthorizationCodeStep::begin`] leads to.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // moved once
pub enum AuthorizationBegin {
    /// Push the request first (PAR).
    Pushed(ParExchange),
    /// Open the browser at [`PendingAuthorization::url`].
    Ready(PendingAuthorization),
}

/// The pushed authorization request (RFC 9126).
#[derive(Debug)]
pub struct ParExchange {
    url: String,
    params: Vec<(String, String)>,
    authorization_endpoint: String,
    pending: PendingAuthorization,
}

impl ParExchange {
    /// The DPoP key of the pending authorization, taken out to prove the
    /// PAR request with (put it back with [`PendingAuthorization::restore_dpop`]).
    pub(crate) fn take_dpop(&mut self) -> Option<DpopState> {
        self.pending.dpop.take()
    }
}

#[derive(Deserialize)]
struct ParResponse {
    request_uri: String,
    #[allow(dead_code)]
    expires_in: Option<u64>,
}

impl Exchange for ParExchange {
    type Output = PendingAuthorization;

    fn endpoint(&self) -> Endpoint {
        Endpoint::PushedAuthorization
    }

    fn prepare_request(&self, _config: &EngineConfig) -> Result<HttpRequest> {
        let form: Vec<(&str, &str)> = self
            .params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        Ok(HttpRequest::post_form(&self.url, &form).header("accept", "application/json"))
    }

    fn handle_response(
        self,
        response: HttpResponse,
        _config: &EngineConfig,
    ) -> Result<Progress<Self, PendingAuthorization>> {
        let par: ParResponse = expect_json(Endpoint::PushedAuthorization, &self.url, &response)?;
        if par.request_uri.is_empty() {
            return Err(Error::UnexpectedResponse {
                endpoint: Endpoint::PushedAuthorization,
                url: display_url(&self.url),
                status: response.status,
                problem: "field request_uri: empty".into(),
            });
        }
        let params = [
            ("client_id".to_string(), self.pending.client_id.clone()),
            ("request_uri".to_string(), par.request_uri),
        ];
        let url = with_query(&self.authorization_endpoint, &params)?;
        Ok(Progress::Done(PendingAuthorization {
            url,
            ..self.pending
        }))
    }
}

/// An authorization waiting for the browser's redirect. Serializable: save it
/// before opening the browser, and restore it when the redirect arrives.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingAuthorization {
    pub(crate) context: DiscoveredMetadata,
    pub(crate) configuration_ids: Vec<String>,
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) verifier: PkceVerifier,
    pub(crate) state: String,
    pub(crate) url: String,
    /// The DPoP key (and nonces) when the authorization server uses DPoP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) dpop: Option<DpopState>,
}

impl std::fmt::Debug for PendingAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingAuthorization")
            .field("issuer", &self.context.issuer_id())
            .field("configuration_ids", &self.configuration_ids)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

impl PendingAuthorization {
    pub(crate) fn restore_dpop(mut self, dpop: Option<DpopState>) -> Self {
        self.dpop = dpop;
        self
    }

    /// Whether the authorization server uses DPoP: the code is bound to this
    /// authorization's DPoP key (`dpop_jkt`), and so is the access token.
    pub fn uses_dpop(&self) -> bool {
        self.dpop.is_some()
    }

    /// The URL to open in the browser.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The redirect URI the browser will come back to.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Checks the redirect URL (redirect URI, `state`, `iss`, `error`) and
    /// prepares the code exchange. Nothing is sent when a check fails.
    pub fn callback(&self, redirect_url: &str) -> Result<TokenExchange> {
        let url = url::Url::parse(redirect_url)
            .map_err(|_| Error::Callback(CallbackError::WrongRedirectUri))?;
        let expected = url::Url::parse(&self.redirect_uri)
            .map_err(|_| Error::Callback(CallbackError::WrongRedirectUri))?;
        if url.scheme() != expected.scheme()
            || url.host_str() != expected.host_str()
            || url.port_or_known_default() != expected.port_or_known_default()
            || url.path() != expected.path()
        {
            return Err(Error::Callback(CallbackError::WrongRedirectUri));
        }
        let mut params = std::collections::HashMap::new();
        for (k, v) in url.query_pairs() {
            if params.insert(k.to_string(), v.to_string()).is_some() {
                return Err(Error::Callback(CallbackError::StateMismatch));
            }
        }
        match params.get("state") {
            None => return Err(Error::Callback(CallbackError::StateMissing)),
            Some(s) if *s != self.state => {
                return Err(Error::Callback(CallbackError::StateMismatch))
            }
            Some(_) => {}
        }
        let as_md = &self.context.authorization_server;
        match params.get("iss") {
            Some(iss) if *iss != as_md.issuer => {
                return Err(Error::Callback(CallbackError::IssuerMismatch))
            }
            None if as_md.authorization_response_iss_parameter_supported == Some(true) => {
                return Err(Error::Callback(CallbackError::IssuerMissing))
            }
            _ => {}
        }
        if let Some(code) = params.get("error") {
            return Err(Error::Callback(CallbackError::Denied(ServerError {
                code: ErrorCode::parse(code),
                description: params
                    .get("error_description")
                    .map(|d| sanitize(d, crate::error::MAX_QUOTED_CHARS)),
            })));
        }
        let code = params
            .get("code")
            .filter(|c| !c.is_empty())
            .ok_or(Error::Callback(CallbackError::CodeMissing))?;
        let token_endpoint = as_md
            .token_endpoint
            .as_deref()
            .ok_or(Error::MissingEndpoint {
                document: crate::error::Document::AuthorizationServerMetadata,
                field: "token_endpoint",
            })?;
        Ok(TokenExchange::authorization_code(
            token_endpoint,
            code,
            &self.redirect_uri,
            &self.verifier,
            &self.client_id,
        )
        .with_dpop(self.dpop.is_some()))
    }

    /// The authorized state after the code exchange.
    pub fn into_authorized(self, token: TokenResponse, now: u64) -> Authorized {
        Authorized::new(
            self.context,
            self.configuration_ids,
            token,
            Some(self.client_id),
            now,
        )
        .with_dpop(self.dpop)
    }

    /// Saves it as JSON (holds the PKCE verifier: store it securely).
    pub fn to_json(&self) -> Result<String> {
        save_state(SavedKind::PendingAuthorization, self)
    }

    /// Restores it from [`Self::to_json`]. Fails with [`Error::InvalidState`]
    /// naming what is wrong when the JSON is not a saved pending
    /// authorization.
    pub fn from_json(json: &str) -> Result<Self> {
        restore_state(SavedKind::PendingAuthorization, json)
    }
}

impl AuthorizationCodeStep {
    /// Builds the authorization request (PKCE S256, `state`, `issuer_state`,
    /// `scope` or `authorization_details` as the configurations allow), pushes
    /// it when the server offers PAR, and returns the pending authorization
    /// whose [`PendingAuthorization::url`] the app opens in the browser.
    pub async fn authorization_url<D: Driver>(
        self,
        driver: &D,
        redirect_uri: &str,
    ) -> Result<PendingAuthorization> {
        self.authorization_url_with(driver, redirect_uri, RequestMode::Auto)
            .await
    }

    /// [`Self::authorization_url`] choosing `scope` or `authorization_details`.
    pub async fn authorization_url_with<D: Driver>(
        self,
        driver: &D,
        redirect_uri: &str,
        mode: RequestMode,
    ) -> Result<PendingAuthorization> {
        let random = &*driver.config().random;
        let server = self.context.authorization_server.clone();
        let secrets = AuthorizationSecrets {
            verifier: PkceVerifier::new(crate::jose::random_token(random, 32)),
            state: crate::jose::random_token(random, 16),
            dpop: dpop_for(driver, &server)?,
        };
        let step = self.with_capabilities(capabilities(driver));
        match step.begin(require_client_id(driver)?, redirect_uri, mode, secrets)? {
            AuthorizationBegin::Ready(pending) => Ok(pending),
            AuthorizationBegin::Pushed(mut par) => {
                let mut dpop = par.take_dpop();
                let pending = run_at(driver, par, &server, dpop.as_mut()).await?;
                Ok(pending.restore_dpop(dpop))
            }
        }
    }
}

impl PendingAuthorization {
    /// Checks the redirect URL the browser came back with (`state`, `iss`,
    /// `error`) and exchanges the code. Nothing is sent if a check fails.
    pub async fn complete<D: Driver>(
        mut self,
        driver: &D,
        redirect_url: &str,
    ) -> Result<Authorized> {
        let exchange = self.callback(redirect_url)?;
        let server = &self.context.authorization_server;
        let token = run_at(driver, exchange, server, self.dpop.as_mut()).await?;
        Ok(self.into_authorized(token, driver.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context(par: bool, iss_supported: bool, separate_as: bool) -> DiscoveredMetadata {
        let mut issuer = json!({
            "credential_issuer": "https://issuer.example/t",
            "credential_endpoint": "https://issuer.example/t/credential",
            "credential_configurations_supported": {
                "pid": {"format": "dc+sd-jwt", "vct": "urn:pid", "scope": "pid_scope"},
                "noscope": {"format": "dc+sd-jwt", "vct": "urn:x"}
            }
        });
        if separate_as {
            issuer["authorization_servers"] = json!(["https://as.example"]);
        }
        let mut as_md = json!({
            "issuer": "https://as.example",
            "token_endpoint": "https://as.example/token",
            "authorization_endpoint": "https://as.example/authorize",
            "authorization_response_iss_parameter_supported": iss_supported
        });
        if par {
            as_md["pushed_authorization_request_endpoint"] = json!("https://as.example/par");
        }
        DiscoveredMetadata::new(
            serde_json::from_value(issuer).unwrap(),
            serde_json::from_value(as_md).unwrap(),
        )
    }

    fn secrets() -> AuthorizationSecrets {
        AuthorizationSecrets {
            verifier: PkceVerifier::new("v".repeat(43)),
            state: "st4te".into(),
            dpop: None,
        }
    }

    fn pending(iss_supported: bool) -> PendingAuthorization {
        let step = AuthorizationCodeStep::new(
            context(false, iss_supported, false),
            vec!["pid".into()],
            None,
        )
        .unwrap();
        match step
            .begin(
                "wallet",
                "https://wallet.example/cb",
                RequestMode::Auto,
                secrets(),
            )
            .unwrap()
        {
            AuthorizationBegin::Ready(p) => p,
            AuthorizationBegin::Pushed(_) => panic!("no PAR endpoint"),
        }
    }

    fn query(url: &str) -> std::collections::HashMap<String, String> {
        url::Url::parse(url)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect()
    }

    #[test]
    fn scope_when_available_else_authorization_details() {
        let p = pending(false);
        let q = query(p.url());
        assert_eq!(q["scope"], "pid_scope");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(
            q["code_challenge"],
            pkce_challenge(&PkceVerifier::new("v".repeat(43)))
        );
        assert_eq!(q["state"], "st4te");
        assert!(!q.contains_key("authorization_details") && !q.contains_key("resource"));

        let step = AuthorizationCodeStep::new(
            context(false, false, true),
            vec!["noscope".into()],
            Some(crate::types::IssuerState::new("is-1")),
        )
        .unwrap();
        let params = step
            .parameters("wallet", "https://w/cb", RequestMode::Auto, &secrets())
            .unwrap();
        let q: std::collections::HashMap<_, _> = params.into_iter().collect();
        let details: serde_json::Value = serde_json::from_str(&q["authorization_details"]).unwrap();
        assert_eq!(
            details,
            json!([{"type":"openid_credential","credential_configuration_id":"noscope","locations":["https://issuer.example/t"]}])
        );
        assert_eq!(q["issuer_state"], "is-1");
        assert!(!q.contains_key("scope"));
    }

    #[test]
    fn par_is_used_when_offered_and_the_url_then_carries_only_client_id_and_request_uri() {
        let step =
            AuthorizationCodeStep::new(context(true, false, false), vec!["pid".into()], None)
                .unwrap();
        let AuthorizationBegin::Pushed(par) = step
            .begin("wallet", "https://w/cb", RequestMode::Auto, secrets())
            .unwrap()
        else {
            panic!("expected PAR")
        };
        let cfg = EngineConfig::default();
        let body = String::from_utf8(par.prepare_request(&cfg).unwrap().body).unwrap();
        assert!(body.contains("redirect_uri=") && body.contains("code_challenge="));
        let done = par
            .handle_response(
                HttpResponse::json(201, &json!({"request_uri":"urn:par:1","expires_in":60})),
                &cfg,
            )
            .unwrap();
        let Progress::Done(p) = done else { panic!() };
        let q = query(p.url());
        assert_eq!(q.len(), 2);
        assert_eq!(q["request_uri"], "urn:par:1");
        assert_eq!(q["client_id"], "wallet");
    }

    #[test]
    fn every_callback_check_has_its_own_error() {
        let p = pending(true);
        let cases = [
            (
                "https://evil.example/cb?code=c&state=st4te&iss=https%3A%2F%2Fas.example",
                CallbackError::WrongRedirectUri,
            ),
            (
                "https://wallet.example/cb?code=c&iss=https%3A%2F%2Fas.example",
                CallbackError::StateMissing,
            ),
            (
                "https://wallet.example/cb?code=c&state=other&iss=https%3A%2F%2Fas.example",
                CallbackError::StateMismatch,
            ),
            (
                "https://wallet.example/cb?code=c&state=st4te",
                CallbackError::IssuerMissing,
            ),
            (
                "https://wallet.example/cb?code=c&state=st4te&iss=https%3A%2F%2Fevil.example",
                CallbackError::IssuerMismatch,
            ),
            (
                "https://wallet.example/cb?state=st4te&iss=https%3A%2F%2Fas.example",
                CallbackError::CodeMissing,
            ),
        ];
        for (url, expected) in cases {
            match p.callback(url) {
                Err(Error::Callback(e)) => assert_eq!(e, expected, "{url}"),
                other => panic!("{url}: {other:?}"),
            }
        }
        match p.callback("https://wallet.example/cb?error=access_denied&state=st4te&iss=https%3A%2F%2Fas.example") {
            Err(Error::Callback(CallbackError::Denied(e))) => assert_eq!(e.code, ErrorCode::AccessDenied),
            other => panic!("{other:?}"),
        }
        let ok = p
            .callback(
                "https://wallet.example/cb?code=c0de&state=st4te&iss=https%3A%2F%2Fas.example",
            )
            .unwrap();
        let body =
            String::from_utf8(ok.prepare_request(&EngineConfig::default()).unwrap().body).unwrap();
        assert!(body.contains("grant_type=authorization_code") && body.contains("code=c0de"));
        assert!(body.contains(&format!("code_verifier={}", "v".repeat(43))));
        // Without the iss promise, a missing iss is fine.
        assert!(pending(false)
            .callback("https://wallet.example/cb?code=c&state=st4te")
            .is_ok());
        // Saved and restored, it still checks the same state.
        let restored = PendingAuthorization::from_json(&p.to_json().unwrap()).unwrap();
        assert!(restored
            .callback("https://wallet.example/cb?code=c&state=st4te&iss=https%3A%2F%2Fas.example")
            .is_ok());
        assert!(!format!("{restored:?}").contains(&"v".repeat(43)));
    }

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        let verifier = PkceVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(
            pkce_challenge(&verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
