//! The authorization code flow for apps: build the URL to open in the browser
//! (PKCE, `state`, PAR when offered), save the pending authorization while the
//! browser is open, and complete it from the redirect URL.

use super::cancel::{cancellable, Cancellation};
use super::{AuthorizedSession, Wallet, WalletError};
use crate::flow::authorization::PendingAuthorization as CorePending;
use std::sync::Arc;

/// An authorization waiting for the browser's redirect.
///
/// Open [`Self::authorization_url`] in the browser (Custom Tabs,
/// `ASWebAuthenticationSession`), save [`Self::to_json`] first (the app may be
/// killed meanwhile), and pass the redirect URL the browser comes back with to
/// [`Self::complete`]. It completes once: a second `complete` after a
/// successful one fails with `WalletError::InvalidState`. A redirect that fails
/// the checks (`state`, `iss`, redirect URI) sends nothing and leaves it usable.
/// A code the authorization server refuses (used, e.g. by a second copy
/// restored from the same JSON, or expired) fails with `WalletError::Server`
/// whose `code` is `invalid_grant`: start a new authorization.
#[derive(uniffi::Object)]
pub struct PendingAuthorization {
    inner: CorePending,
    locales: Vec<String>,
    completed: tokio::sync::Mutex<bool>,
}

impl PendingAuthorization {
    pub(crate) fn wrap(inner: CorePending, locales: Vec<String>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            locales,
            completed: tokio::sync::Mutex::new(false),
        })
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl PendingAuthorization {
    /// Restores an authorization saved with [`Self::to_json`]. Throws
    /// `WalletError::InvalidState`, naming what is wrong, for anything else
    /// (not JSON, another saved state, a newer format, a missing field).
    #[uniffi::constructor]
    pub fn from_json(json: String, locales: Vec<String>) -> Result<Arc<Self>, WalletError> {
        Ok(Self::wrap(CorePending::from_json(&json)?, locales))
    }

    /// Saves it (it holds the PKCE verifier: use secure storage). Throws
    /// `WalletError::InvalidState` if it cannot be saved.
    pub fn to_json(&self) -> Result<String, WalletError> {
        Ok(self.inner.to_json()?)
    }

    /// The URL to open in the browser.
    pub fn authorization_url(&self) -> String {
        self.inner.url().to_string()
    }

    /// The redirect URI the browser will come back to.
    pub fn redirect_uri(&self) -> String {
        self.inner.redirect_uri().to_string()
    }

    /// The credential issuer identifier.
    pub fn issuer_id(&self) -> String {
        self.inner.context.issuer_id().to_string()
    }

    /// The configurations this authorization asks for.
    pub fn credential_configuration_ids(&self) -> Vec<String> {
        self.inner.configuration_ids.clone()
    }

    /// Whether the authorization server uses DPoP (RFC 9449; it advertises
    /// ES256 in `dpop_signing_alg_values_supported`): the code is bound to
    /// this authorization's DPoP key (a proof at PAR, or `dpop_jkt`), the key
    /// is kept in [`Self::to_json`], and the session [`Self::complete`]
    /// returns holds a DPoP-bound token. Nothing for the app to do.
    pub fn uses_dpop(&self) -> bool {
        self.inner.uses_dpop()
    }

    /// Checks the redirect URL (redirect URI, `state`, `iss`, `error`) and
    /// exchanges the code for an access token.
    #[uniffi::method(default(cancel = None))]
    pub async fn complete(
        &self,
        wallet: Arc<Wallet>,
        redirect_url: String,
        cancel: Option<Arc<Cancellation>>,
    ) -> Result<Arc<AuthorizedSession>, WalletError> {
        let mut completed = self.completed.lock().await;
        if *completed {
            return Err(WalletError::InvalidState {
                details: "this authorization was already completed; its code is single use".into(),
            });
        }
        let authorized = cancellable(cancel, async {
            Ok(self
                .inner
                .clone()
                .complete(&wallet.inner, &redirect_url)
                .await?)
        })
        .await?;
        *completed = true;
        Ok(AuthorizedSession::wrap(authorized, self.locales.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::http::{HttpClient, HttpClientError, HttpHeader, HttpRequest, HttpResponse};
    use super::super::*;
    use serde_json::json;
    use std::sync::{Arc, Mutex};

    const ISSUER: &str = "https://issuer.example";
    const AS: &str = "https://as.example";

    /// A transport that plays issuer and authorization server from canned JSON,
    /// through the foreign `HttpClient` interface an app would implement.
    struct FakeServers {
        par: bool,
        /// Advertise DPoP (ES256) and answer the token request with a DPoP
        /// token when it carries a proof.
        dpop: bool,
        seen: Mutex<Vec<HttpRequest>>,
    }

    fn json_response(status: u16, body: serde_json::Value) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![HttpHeader {
                name: "content-type".into(),
                value: "application/json".into(),
            }],
            body: body.to_string().into_bytes(),
        }
    }

    impl HttpClient for FakeServers {
        fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpClientError> {
            self.seen.lock().unwrap().push(request.clone());
            let url = request
                .url
                .split('?')
                .next()
                .unwrap_or_default()
                .to_string();
            Ok(match (request.method.as_str(), url.as_str()) {
                ("GET", u) if u == format!("{ISSUER}/.well-known/openid-credential-issuer") => {
                    json_response(
                        200,
                        json!({
                            "credential_issuer": ISSUER,
                            "authorization_servers": [AS],
                            "credential_endpoint": format!("{ISSUER}/credential"),
                            "display": [{"name": "Reference Issuer", "locale": "en"}],
                            "credential_configurations_supported": {
                                "pid_sd_jwt": {"format": "dc+sd-jwt", "vct": "urn:pid", "scope": "pid"}
                            }
                        }),
                    )
                }
                ("GET", u) if u == format!("{AS}/.well-known/oauth-authorization-server") => {
                    let mut md = json!({
                        "issuer": AS,
                        "authorization_endpoint": format!("{AS}/authorize"),
                        "token_endpoint": format!("{AS}/token"),
                        "authorization_response_iss_parameter_supported": true,
                        "code_challenge_methods_supported": ["S256"]
                    });
                    if self.par {
                        md["pushed_authorization_request_endpoint"] = json!(format!("{AS}/par"));
                    }
                    if self.dpop {
                        md["dpop_signing_alg_values_supported"] = json!(["ES256"]);
                    }
                    json_response(200, md)
                }
                ("POST", u) if u == format!("{AS}/par") => json_response(
                    201,
                    json!({"request_uri": "urn:ietf:params:oauth:request_uri:abc", "expires_in": 60}),
                ),
                ("POST", u) if u == format!("{AS}/token") => {
                    let form: std::collections::HashMap<String, String> =
                        url::form_urlencoded::parse(&request.body)
                            .into_owned()
                            .collect();
                    if form.get("code").map(String::as_str) == Some("good-code")
                        && form.get("grant_type").map(String::as_str) == Some("authorization_code")
                        && form.get("code_verifier").is_some_and(|v| v.len() >= 43)
                    {
                        let proven = request.headers.iter().any(|h| h.name == "dpop");
                        let token_type = if self.dpop && proven {
                            "DPoP"
                        } else {
                            "Bearer"
                        };
                        json_response(
                            200,
                            json!({"access_token": "at", "token_type": token_type, "expires_in": 300}),
                        )
                    } else {
                        json_response(400, json!({"error": "invalid_grant"}))
                    }
                }
                _ => json_response(404, json!({"error": "not_found"})),
            })
        }
    }

    fn wallet(par: bool) -> (Arc<Wallet>, Arc<FakeServers>) {
        wallet_with(par, false)
    }

    fn wallet_with(par: bool, dpop: bool) -> (Arc<Wallet>, Arc<FakeServers>) {
        let servers = Arc::new(FakeServers {
            par,
            dpop,
            seen: Mutex::new(Vec::new()),
        });
        let config = WalletConfig {
            client_id: Some("test-wallet".into()),
            locales: vec!["en".into()],
            dangerous_allow_http: false,
            verify_credential_signatures: true,
            request_timeout_ms: 0,
            max_response_bytes: 0,
            root_certificates_pem: vec![],
            trust_anchors_pem: vec![],
            require_verified: false,
        };
        (
            Wallet::with_http_client(config, servers.clone()).unwrap(),
            servers,
        )
    }

    fn query(url: &str) -> std::collections::HashMap<String, String> {
        url::Url::parse(url)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect()
    }

    #[tokio::test]
    async fn wallet_initiated_round_trip_with_save_and_restore() {
        let (wallet, servers) = wallet(false);
        let pending = wallet
            .clone()
            .start_issuance(
                ISSUER.into(),
                vec!["pid_sd_jwt".into()],
                "https://wallet.example/cb".into(),
            )
            .await
            .unwrap();
        assert_eq!(pending.issuer_id(), ISSUER);
        assert_eq!(pending.credential_configuration_ids(), vec!["pid_sd_jwt"]);
        let url = pending.authorization_url();
        assert!(url.starts_with(&format!("{AS}/authorize?")), "{url}");
        let params = query(&url);
        assert_eq!(params["client_id"], "test-wallet");
        assert_eq!(params["code_challenge_method"], "S256");
        assert_eq!(params["scope"], "pid");
        assert_eq!(params["resource"], ISSUER);
        let state = params["state"].clone();

        // The app is killed while the browser is open, and restores.
        let restored =
            PendingAuthorization::from_json(pending.to_json().unwrap(), vec!["en".into()]).unwrap();
        assert_eq!(restored.authorization_url(), url);

        // A redirect with the wrong state is refused before any request.
        let before = servers.seen.lock().unwrap().len();
        let err = restored
            .complete(
                wallet.clone(),
                format!("https://wallet.example/cb?code=good-code&state=other&iss={AS}"),
                None,
            )
            .await
            .err()
            .unwrap();
        assert!(
            matches!(err, WalletError::AuthorizationFailed { .. }),
            "{err}"
        );
        assert_eq!(servers.seen.lock().unwrap().len(), before);

        // A code the token endpoint refuses is invalid_grant, not a rejected
        // transaction code (there is none in this flow), and leaves it usable.
        let err = restored
            .complete(
                wallet.clone(),
                format!("https://wallet.example/cb?code=used-code&state={state}&iss={AS}"),
                None,
            )
            .await
            .err()
            .unwrap();
        assert!(
            matches!(&err, WalletError::Server { code, status: 400, .. } if code == "invalid_grant"),
            "{err}"
        );

        let session = restored
            .complete(
                wallet.clone(),
                format!("https://wallet.example/cb?code=good-code&state={state}&iss={AS}"),
                None,
            )
            .await
            .unwrap();
        assert_eq!(session.issuer_id().await, ISSUER);
        assert_eq!(
            session.credential_configuration_ids().await,
            vec!["pid_sd_jwt"]
        );

        let again = restored
            .complete(
                wallet.clone(),
                format!("https://wallet.example/cb?code=good-code&state={state}&iss={AS}"),
                None,
            )
            .await
            .err()
            .unwrap();
        assert!(matches!(again, WalletError::InvalidState { .. }), "{again}");
    }

    /// Completes a fresh wallet-initiated authorization after a save and
    /// restore; returns the restored pending authorization and the session.
    async fn complete_restored(
        wallet: &Arc<Wallet>,
        servers: &FakeServers,
    ) -> (Arc<PendingAuthorization>, Arc<AuthorizedSession>) {
        let pending = wallet
            .clone()
            .start_issuance(
                ISSUER.into(),
                vec!["pid_sd_jwt".into()],
                "https://wallet.example/cb".into(),
            )
            .await
            .unwrap();
        let restored =
            PendingAuthorization::from_json(pending.to_json().unwrap(), vec!["en".into()]).unwrap();
        assert_eq!(restored.uses_dpop(), pending.uses_dpop());
        let state = match servers
            .seen
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|r| r.url == format!("{AS}/par"))
        {
            Some(par) => {
                url::form_urlencoded::parse(&par.body)
                    .into_owned()
                    .find(|(k, _)| k == "state")
                    .unwrap()
                    .1
            }
            None => query(&pending.authorization_url())["state"].clone(),
        };
        let session = restored
            .complete(
                wallet.clone(),
                format!("https://wallet.example/cb?code=good-code&state={state}&iss={AS}"),
                None,
            )
            .await
            .unwrap();
        (restored, session)
    }

    fn token_request_has_dpop_proof(servers: &FakeServers) -> bool {
        servers
            .seen
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|r| r.url == format!("{AS}/token"))
            .expect("a token request")
            .headers
            .iter()
            .any(|h| h.name == "dpop")
    }

    #[tokio::test]
    async fn uses_dpop_when_the_authorization_server_advertises_it() {
        for par in [false, true] {
            let (wallet, servers) = wallet_with(par, true);
            let (pending, session) = complete_restored(&wallet, &servers).await;
            assert!(pending.uses_dpop(), "par {par}");
            assert!(session.uses_dpop().await, "par {par}");
            assert!(token_request_has_dpop_proof(&servers), "par {par}");
            let restored =
                AuthorizedSession::from_json(session.to_json().await.unwrap(), vec!["en".into()])
                    .unwrap();
            assert!(restored.uses_dpop().await, "par {par}");
        }
    }

    #[tokio::test]
    async fn no_dpop_without_the_metadata() {
        let (wallet, servers) = wallet_with(true, false);
        let (pending, session) = complete_restored(&wallet, &servers).await;
        assert!(!pending.uses_dpop());
        assert!(!session.uses_dpop().await);
        assert!(!token_request_has_dpop_proof(&servers));
    }

    #[tokio::test]
    async fn pushed_authorization_and_denied_access() {
        let (wallet, servers) = wallet(true);
        let pending = wallet
            .clone()
            .start_issuance(
                ISSUER.into(),
                vec!["pid_sd_jwt".into()],
                "https://wallet.example/cb".into(),
            )
            .await
            .unwrap();
        let params = query(&pending.authorization_url());
        assert_eq!(
            params["request_uri"],
            "urn:ietf:params:oauth:request_uri:abc"
        );
        assert!(!params.contains_key("code_challenge"));
        let par = servers
            .seen
            .lock()
            .unwrap()
            .iter()
            .find(|r| r.url == format!("{AS}/par"))
            .cloned()
            .expect("a pushed authorization request");
        let form: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(&par.body)
                .into_owned()
                .collect();
        let state = form["state"].clone();
        let err = pending
            .complete(
                wallet.clone(),
                format!("https://wallet.example/cb?error=access_denied&state={state}&iss={AS}"),
                None,
            )
            .await
            .err()
            .unwrap();
        assert!(
            matches!(err, WalletError::AuthorizationFailed { .. }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn offer_with_authorization_code_grant() {
        let (wallet, _) = wallet(false);
        let offer = json!({
            "credential_issuer": ISSUER,
            "credential_configuration_ids": ["pid_sd_jwt"],
            "grants": {"authorization_code": {"issuer_state": "from-the-offer"}}
        });
        let offer_url = format!(
            "openid-credential-offer://?credential_offer={}",
            url::form_urlencoded::byte_serialize(offer.to_string().as_bytes()).collect::<String>()
        );
        let offer = wallet.resolve_offer(offer_url, None).await.unwrap();
        assert_eq!(offer.grants(), vec![GrantKind::AuthorizationCode]);
        assert!(offer.tx_code_spec().is_none());
        let err = offer
            .authorize(wallet.clone(), None, None)
            .await
            .err()
            .unwrap();
        assert!(matches!(err, WalletError::InvalidState { .. }), "{err}");
        let pending = offer
            .begin_authorization(wallet.clone(), "https://wallet.example/cb".into())
            .await
            .unwrap();
        let params = query(&pending.authorization_url());
        assert_eq!(params["issuer_state"], "from-the-offer");
        assert_eq!(params["redirect_uri"], "https://wallet.example/cb");
    }

    #[tokio::test]
    async fn needs_a_client_id() {
        let servers = Arc::new(FakeServers {
            par: false,
            dpop: false,
            seen: Mutex::new(Vec::new()),
        });
        let config = WalletConfig {
            client_id: None,
            locales: vec![],
            dangerous_allow_http: false,
            verify_credential_signatures: true,
            request_timeout_ms: 0,
            max_response_bytes: 0,
            root_certificates_pem: vec![],
            trust_anchors_pem: vec![],
            require_verified: false,
        };
        let wallet = Wallet::with_http_client(config, servers).unwrap();
        let err = wallet
            .start_issuance(
                ISSUER.into(),
                vec!["pid_sd_jwt".into()],
                "https://w.example/cb".into(),
            )
            .await
            .err()
            .unwrap();
        assert!(matches!(err, WalletError::Configuration { .. }), "{err}");
    }
}
