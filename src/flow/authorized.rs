//! Holding an access token: the session credential requests run in.

use super::discovery::DiscoveredMetadata;
use super::saved::{restore_state, save_state, SavedKind};
use super::token::TokenExchange;
use crate::error::Result;
use crate::jose::DpopState;
use crate::types::{AccessToken, AuthorizationDetail, RefreshToken, TokenResponse};
use serde::{Deserialize, Serialize};

/// The access token and what came with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenState {
    /// The access token.
    pub access_token: AccessToken,
    /// The token type as sent (Bearer).
    pub token_type: String,
    /// When the token expires (seconds since the epoch), if the server said.
    pub expires_at: Option<u64>,
    /// The refresh token, if any.
    pub refresh_token: Option<RefreshToken>,
    /// Authorization details with credential identifiers.
    pub authorization_details: Vec<AuthorizationDetail>,
}

/// Holding an access token: ready to request credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Authorized {
    pub(crate) context: DiscoveredMetadata,
    pub(crate) offered: Vec<String>,
    pub(crate) token: TokenState,
    /// `iss` for proofs; `None` for anonymous access.
    pub(crate) client_id: Option<String>,
    /// A draft-13 `c_nonce` from the token or last credential response.
    pub(crate) c_nonce: Option<String>,
    /// The DPoP key and nonces, when the authorization server uses DPoP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) dpop: Option<DpopState>,
    /// A nonce from the nonce endpoint fetched beside the token request,
    /// for the first credential request. Not saved: a restored session
    /// fetches a fresh one.
    #[serde(skip)]
    pub(crate) prefetched_nonce: Option<PrefetchedNonce>,
}

/// A nonce kept for the next proof; its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PrefetchedNonce(pub(crate) String);

impl std::fmt::Debug for PrefetchedNonce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrefetchedNonce(<redacted>)")
    }
}

impl Authorized {
    pub(crate) fn new(
        context: DiscoveredMetadata,
        offered: Vec<String>,
        token: TokenResponse,
        client_id: Option<String>,
        now: u64,
    ) -> Self {
        Self {
            context,
            offered,
            token: TokenState {
                access_token: token.access_token,
                token_type: token.token_type,
                expires_at: token.expires_in.map(|s| now.saturating_add(s)),
                refresh_token: token.refresh_token,
                authorization_details: token.authorization_details.unwrap_or_default(),
            },
            client_id,
            c_nonce: token.c_nonce,
            dpop: None,
            prefetched_nonce: None,
        }
    }

    /// Keeps a nonce fetched from the nonce endpoint while the token was
    /// requested ([`PreAuthorizedStep::nonce_prefetch`](super::PreAuthorizedStep::nonce_prefetch)):
    /// the first credential request signs its proofs with it instead of
    /// asking for one (an `invalid_nonce` answer still gets a fresh one).
    pub fn with_prefetched_nonce(mut self, nonce: Option<String>) -> Self {
        self.prefetched_nonce = nonce.map(PrefetchedNonce);
        self
    }

    /// Attaches the DPoP key the token was requested with.
    /// Attaches the DPoP key (and nonces) the token was requested with: a
    /// driver of the engine that ran the token request with DPoP hands it
    /// over here, so that every later request proves the same key.
    pub fn with_dpop(mut self, dpop: Option<DpopState>) -> Self {
        self.dpop = dpop;
        self
    }

    /// Whether the access token is DPoP-bound (every request that presents
    /// it carries a DPoP proof of this session's key).
    pub fn uses_dpop(&self) -> bool {
        self.token.token_type.eq_ignore_ascii_case("dpop")
    }

    /// The issuer and authorization server metadata.
    pub fn context(&self) -> &DiscoveredMetadata {
        &self.context
    }

    /// The credential issuer identifier.
    pub fn issuer_id(&self) -> &str {
        self.context.issuer_id()
    }

    /// The configuration ids this authorization covers.
    pub fn credential_configuration_ids(&self) -> &[String] {
        &self.offered
    }

    /// The token and what came with it.
    pub fn token(&self) -> &TokenState {
        &self.token
    }

    /// Whether the access token has expired at `now` (seconds since the epoch).
    pub fn token_expired(&self, now: u64) -> bool {
        self.token.expires_at.is_some_and(|t| now >= t)
    }

    /// The `credential_identifier`s the token response gave for a configuration.
    pub fn credential_identifiers(&self, configuration_id: &str) -> Vec<String> {
        self.token
            .authorization_details
            .iter()
            .filter(|d| d.kind == "openid_credential")
            .filter(|d| d.credential_configuration_id.as_deref() == Some(configuration_id))
            .flat_map(|d| d.credential_identifiers.clone().unwrap_or_default())
            .collect()
    }

    /// The refresh request, when the server gave a refresh token.
    pub fn refresh_exchange(&self) -> Option<TokenExchange> {
        let refresh = self.token.refresh_token.as_ref()?;
        let endpoint = self
            .context
            .authorization_server
            .token_endpoint
            .as_deref()?;
        Some(
            TokenExchange::refresh(endpoint, refresh, self.client_id.as_deref())
                .with_dpop(self.dpop.is_some()),
        )
    }

    /// Takes in a refreshed token (keeping the refresh token and
    /// authorization details when the response repeats neither).
    pub fn apply_refresh(&mut self, token: TokenResponse, now: u64) {
        self.token.access_token = token.access_token;
        self.token.token_type = token.token_type;
        self.token.expires_at = token.expires_in.map(|s| now.saturating_add(s));
        if token.refresh_token.is_some() {
            self.token.refresh_token = token.refresh_token;
        }
        if let Some(details) = token.authorization_details {
            self.token.authorization_details = details;
        }
        if token.c_nonce.is_some() {
            self.c_nonce = token.c_nonce;
        }
    }

    /// The `Authorization` header value: `DPoP <token>` for a DPoP-bound
    /// token, else `Bearer <token>`.
    pub(crate) fn authorization_header(&self) -> String {
        let scheme = if self.uses_dpop() { "DPoP" } else { "Bearer" };
        format!("{scheme} {}", self.token.access_token.secret())
    }

    /// Saves the state as JSON (it contains the access token: store it securely).
    pub fn to_json(&self) -> Result<String> {
        save_state(SavedKind::Authorized, self)
    }

    /// Restores a state saved with [`Self::to_json`]. Fails with
    /// [`crate::Error::InvalidState`] naming what is wrong when the JSON is not a
    /// saved authorized session.
    pub fn from_json(json: &str) -> Result<Self> {
        restore_state(SavedKind::Authorized, json)
    }
}
