//! The pre-authorized code grant (OID4VCI 1.0 section 3.5): the step that
//! waits for the user's tx_code, then the token request.

use super::authorized::Authorized;
use super::discovery::DiscoveredMetadata;
use super::driver::{capabilities, dpop_for, run_at, Driver};
use super::protection::{DpopUse, Protected, Protection};
use super::saved::{restore_state, save_state, SavedKind};
use super::token::TokenExchange;
use crate::error::{Document, Error, Result, TxCodeErrorKind};
use crate::jose::DpopServer;
use crate::types::{PreAuthorizedCode, TokenResponse, TxCode, TxCodeSpec};
use serde::{Deserialize, Serialize};

/// The pre-authorized grant, before the token request. When [`Self::tx_code_spec`]
/// is `Some`, the user must enter a code ([`Self::with_tx_code`]) first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreAuthorizedStep {
    pub(crate) context: DiscoveredMetadata,
    pub(crate) offered: Vec<String>,
    pub(crate) code: PreAuthorizedCode,
    pub(crate) tx_code_spec: Option<TxCodeSpec>,
    pub(crate) tx_code: Option<TxCode>,
    #[serde(default)]
    pub(crate) capabilities: super::Capabilities,
}

impl PreAuthorizedStep {
    /// What the wallet can do, for the check before the token request.
    pub fn with_capabilities(mut self, capabilities: super::Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// What to tell the user about the transaction code, when one is required.
    pub fn tx_code_spec(&self) -> Option<&TxCodeSpec> {
        self.tx_code_spec.as_ref()
    }

    /// Supplies the transaction code the user entered.
    pub fn with_tx_code(mut self, code: impl Into<TxCode>) -> Self {
        self.tx_code = Some(code.into());
        self
    }

    /// Saves the step as JSON, before or after [`Self::with_tx_code`] (e.g.
    /// while the PIN screen is shown: the app may be killed there), so that
    /// [`Self::from_json`] restores it without a request. It holds the
    /// pre-authorized code and, once typed, the transaction code: store it
    /// securely.
    pub fn to_json(&self) -> Result<String> {
        save_state(SavedKind::PreAuthorizedStep, self)
    }

    /// Restores a step saved with [`Self::to_json`], making no request.
    /// Fails with [`Error::InvalidState`] naming what is wrong when the JSON
    /// is not a saved pre-authorized step.
    pub fn from_json(json: &str) -> Result<Self> {
        let kind = SavedKind::PreAuthorizedStep;
        let step: Self = restore_state(kind, json)?;
        if step.offered.is_empty() {
            return Err(kind.error("no offered credential configuration"));
        }
        for id in &step.offered {
            step.context.configuration(id).map_err(|e| kind.error(e))?;
        }
        Ok(step)
    }

    /// The configuration ids the offer names.
    pub fn credential_configuration_ids(&self) -> &[String] {
        &self.offered
    }

    /// The credential issuer identifier.
    pub fn issuer_id(&self) -> &str {
        self.context.issuer_id()
    }

    /// Whether the token request is anonymous (no `client_id`, no proof `iss`).
    fn client_id<'a>(&self, client_id: Option<&'a str>) -> Option<&'a str> {
        let anonymous = self
            .context
            .authorization_server
            .pre_authorized_grant_anonymous_access_supported
            .unwrap_or(false);
        client_id.filter(|_| !anonymous)
    }

    /// The token request. Fails before any IO when a transaction code is
    /// required and missing, or given for an offer that has none.
    pub fn token_exchange(&self, client_id: Option<&str>) -> Result<TokenExchange> {
        // The code is single use: refuse before spending it on an issuance
        // that cannot finish.
        self.context
            .can_issue_any(&self.offered, self.capabilities)?;
        match (&self.tx_code_spec, &self.tx_code) {
            (Some(spec), None) => {
                return Err(Error::tx_code(
                    TxCodeErrorKind::Missing,
                    format!(
                        "the offer requires a transaction code ({} characters, {:?} input){}",
                        spec.length
                            .map(|l| l.to_string())
                            .unwrap_or_else(|| "unknown number of".into()),
                        spec.mode(),
                        spec.description
                            .as_deref()
                            .map(|d| format!(": {}", crate::error::sanitize(d, 300)))
                            .unwrap_or_default()
                    ),
                ))
            }
            (None, Some(_)) => {
                return Err(Error::tx_code(
                    TxCodeErrorKind::WrongForm,
                    "the offer has no transaction code, but one was given",
                ))
            }
            (Some(spec), Some(code))
                if spec.mode() == crate::types::InputMode::Numeric
                    && !code.secret().chars().all(|c| c.is_ascii_digit()) =>
            {
                return Err(Error::tx_code(
                    TxCodeErrorKind::WrongForm,
                    "the transaction code must be numeric",
                ));
            }
            _ => {}
        }
        let endpoint = self
            .context
            .authorization_server
            .token_endpoint
            .as_deref()
            .ok_or(Error::MissingEndpoint {
                document: Document::AuthorizationServerMetadata,
                field: "token_endpoint",
            })?;
        let exchange = TokenExchange::pre_authorized(
            endpoint,
            &self.code,
            self.tx_code.as_ref(),
            self.client_id(client_id),
        );
        // Drafts 11 and 12 (by the metadata, not the offer): `user_pin`.
        Ok(if self.context.spec_version().is_draft11_or_12() {
            exchange.tx_code_as_user_pin()
        } else {
            exchange
        })
    }

    /// The nonce request that may go out with the token request: the nonce
    /// endpoint needs no token, so a driver sends both at once and saves a
    /// round trip (then [`Authorized::with_prefetched_nonce`]). `None` when
    /// the issuer has no nonce endpoint or no offered configuration takes
    /// proofs (then no nonce is needed).
    pub fn nonce_prefetch(&self) -> Option<super::NonceExchange> {
        let proofs = self.offered.iter().any(|id| {
            self.context
                .configuration(id)
                .is_ok_and(|c| c.proof_types_supported.is_some())
        });
        if !proofs {
            return None;
        }
        self.context
            .issuer
            .nonce_endpoint
            .as_deref()
            .map(super::NonceExchange::new)
    }

    /// The authorized state after a successful token response.
    pub fn into_authorized(
        self,
        token: TokenResponse,
        client_id: Option<&str>,
        now: u64,
    ) -> Authorized {
        let client_id = self.client_id(client_id).map(str::to_string);
        Authorized::new(self.context, self.offered, token, client_id, now)
    }

    /// Sends the token request (with the transaction code, if the offer has
    /// one, and a DPoP proof of a fresh key when the authorization server
    /// uses DPoP), with the nonce request beside it. Keep a clone of the
    /// step to retry after a mistyped code.
    pub async fn authorize<D: Driver>(&self, driver: &D) -> Result<Authorized> {
        let server = &self.context.authorization_server;
        let mut dpop = dpop_for(driver, server)?;
        let exchange = self
            .clone()
            .with_capabilities(capabilities(driver))
            .token_exchange(driver.client_id())?
            .with_dpop(dpop.is_some());
        // The nonce needs no token: it goes out with the token request. Its
        // DPoP nonce (if the issuer sends one) is read into a copy of the key
        // state and kept; a failed prefetch only means the credential
        // exchange asks for a nonce itself.
        let mut nonce_dpop = dpop.clone();
        let prefetch = async {
            let fetch = self.nonce_prefetch()?;
            let observe = DpopUse::Observe(DpopServer::CredentialIssuer);
            let protect = Protection::issuer(nonce_dpop.as_mut(), observe);
            driver.drive(Protected::new(fetch, protect)).await.ok()
        };
        let token = run_at(driver, exchange, server, dpop.as_mut());
        let (token, nonce) = tokio::join!(token, prefetch);
        let token = token?;
        if let (Some(dpop), Some(seen)) = (dpop.as_mut(), nonce_dpop.as_ref()) {
            dpop.adopt_issuer_nonce(seen);
        }
        Ok(self
            .clone()
            .into_authorized(token, driver.client_id(), driver.now())
            .with_dpop(dpop)
            .with_prefetched_nonce(nonce))
    }
}
