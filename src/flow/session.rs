//! The states of an issuance, each named for what comes next. Every state is
//! `Serialize + Deserialize` so an app can save it (in secure storage: states
//! hold codes and tokens) and resume after a restart; none holds an HTTP client
//! or a signer.
//!
//! Each state that can outlive the process has `to_json` and `from_json`:
//! [`ResolvedOffer`], [`PreAuthorizedStep`],
//! [`crate::flow::authorization::PendingAuthorization`], [`Authorized`] and
//! [`crate::flow::credential::DeferredPending`]. The JSON is the state's
//! fields plus two of the format's own: `saved_state` (which state it is) and
//! `saved_version` ([`SAVED_STATE_VERSION`]). `from_json` refuses anything
//! else with [`Error::InvalidState`] naming the state and what failed (never
//! the values: they may be secrets): not JSON, another state, a newer format,
//! a missing or mistyped field. States saved before the format had these two
//! fields (a pending authorization, an authorized session, a deferred
//! transaction) are still read.

use super::authorization::AuthorizationCodeStep;
use super::token::TokenExchange;
use crate::error::{Error, Result};
use crate::jose::DpopState;
use crate::types::{
    AccessToken, AuthorizationDetail, AuthorizationServerMetadata, CredentialConfiguration,
    CredentialOffer, Display, IssuerMetadata, PreAuthorizedCode, RefreshToken, TokenResponse,
    TxCode, TxCodeSpec,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The version of the saved-state format this SDK writes (`saved_version`),
/// and the newest it reads.
pub const SAVED_STATE_VERSION: u32 = 1;

/// Which state a saved JSON holds (its `saved_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SavedKind {
    ResolvedOffer,
    PreAuthorizedStep,
    PendingAuthorization,
    Authorized,
    DeferredPending,
}

impl SavedKind {
    const ALL: [SavedKind; 5] = [
        SavedKind::ResolvedOffer,
        SavedKind::PreAuthorizedStep,
        SavedKind::PendingAuthorization,
        SavedKind::Authorized,
        SavedKind::DeferredPending,
    ];

    fn tag(self) -> &'static str {
        match self {
            SavedKind::ResolvedOffer => "resolved_offer",
            SavedKind::PreAuthorizedStep => "pre_authorized_step",
            SavedKind::PendingAuthorization => "pending_authorization",
            SavedKind::Authorized => "authorized",
            SavedKind::DeferredPending => "deferred_pending",
        }
    }

    fn name(self) -> &'static str {
        match self {
            SavedKind::ResolvedOffer => "resolved offer",
            SavedKind::PreAuthorizedStep => "pre-authorized step",
            SavedKind::PendingAuthorization => "pending authorization",
            SavedKind::Authorized => "authorized session",
            SavedKind::DeferredPending => "deferred transaction",
        }
    }

    /// Whether this state was saved before the format was versioned (and so
    /// may come without `saved_state` and `saved_version`).
    fn saved_untagged_before(self) -> bool {
        matches!(
            self,
            SavedKind::PendingAuthorization | SavedKind::Authorized | SavedKind::DeferredPending
        )
    }

    /// An [`Error::InvalidState`] about a saved state of this kind.
    pub(crate) fn error(self, problem: impl std::fmt::Display) -> Error {
        Error::InvalidState(format!("saved {}: {problem}", self.name()))
    }
}

/// A state as saved: its fields and the format's two.
#[derive(Serialize)]
struct Tagged<'a, T> {
    saved_state: &'static str,
    saved_version: u32,
    #[serde(flatten)]
    state: &'a T,
}

/// The format's two fields of a saved state (its other fields are skipped).
#[derive(Deserialize)]
struct SavedHeader {
    #[serde(default)]
    saved_state: Option<serde_json::Value>,
    #[serde(default)]
    saved_version: Option<serde_json::Value>,
}

/// Saves a state as JSON, tagged with its kind and the format version.
pub(crate) fn save_state<T: Serialize>(kind: SavedKind, state: &T) -> Result<String> {
    serde_json::to_string(&Tagged {
        saved_state: kind.tag(),
        saved_version: SAVED_STATE_VERSION,
        state,
    })
    .map_err(|e| {
        Error::InvalidState(format!(
            "saving the {}: {}",
            kind.name(),
            redacted_json_error(&e)
        ))
    })
}

/// Restores a state saved by [`save_state`], refusing anything else with an
/// [`Error::InvalidState`] that names the state and what failed.
pub(crate) fn restore_state<T: DeserializeOwned>(kind: SavedKind, json: &str) -> Result<T> {
    if !json.trim_start().starts_with('{') {
        return Err(kind.error("not a saved state (expected a JSON object)"));
    }
    let header: SavedHeader =
        serde_json::from_str(json).map_err(|e| kind.error(redacted_json_error(&e)))?;
    match (&header.saved_state, &header.saved_version) {
        (None, None) if kind.saved_untagged_before() => {}
        (None, _) => {
            return Err(kind.error(format!(
                "no saved_state (expected {:?}): not a saved state of this SDK",
                kind.tag()
            )))
        }
        (Some(serde_json::Value::String(tag)), version) => {
            if tag != kind.tag() {
                return Err(match SavedKind::ALL.iter().find(|k| k.tag() == tag) {
                    Some(other) => kind.error(format!(
                        "this is a saved {}, not a saved {}",
                        other.name(),
                        kind.name()
                    )),
                    None => kind.error(format!(
                        "saved_state {:?} is no state of this SDK (expected {:?})",
                        crate::error::sanitize(tag, 40),
                        kind.tag()
                    )),
                });
            }
            match version.as_ref().map(serde_json::Value::as_u64) {
                None => return Err(kind.error("no saved_version")),
                Some(None) | Some(Some(0)) => {
                    return Err(kind.error("saved_version is not a format version (1, 2, ...)"))
                }
                Some(Some(v)) if v > u64::from(SAVED_STATE_VERSION) => {
                    return Err(kind.error(format!(
                        "saved by a newer SDK (format version {v}; this one reads up to {SAVED_STATE_VERSION})"
                    )))
                }
                Some(Some(_)) => {}
            }
        }
        (Some(_), _) => return Err(kind.error("saved_state is not a string")),
    }
    let mut de = serde_json::Deserializer::from_str(json);
    let state = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = crate::error::sanitize(&e.path().to_string(), 120);
        let what = redacted_json_error(e.inner());
        match path.as_str() {
            "" | "." => kind.error(what),
            _ => kind.error(format!("field {path}: {what}")),
        }
    })?;
    de.end().map_err(|e| kind.error(redacted_json_error(&e)))?;
    Ok(state)
}

/// A JSON error without the value it quotes: serde's messages quote what
/// they found (`invalid type: string "...", expected u64`), and in a saved
/// state that may be a code or a token. What was expected, field names and
/// the position stay.
fn redacted_json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let keep_whole = e.classify() != serde_json::error::Category::Data
        || text.starts_with("missing field")
        || text.starts_with("duplicate field");
    let text = match text.find(['"', '`']) {
        Some(quote) if !keep_whole => {
            let head = text[..quote].trim_end();
            match text.rfind(", expected ") {
                Some(tail) if tail > quote => format!("{head}{}", &text[tail..]),
                _ => match (e.line(), e.column()) {
                    (0, _) => head.to_string(),
                    (line, column) => format!("{head} at line {line} column {column}"),
                },
            }
        }
        _ => text,
    };
    crate::error::sanitize(&text, crate::error::MAX_QUOTED_CHARS)
}

/// What every step after discovery needs: both metadata documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssuerContext {
    /// The credential issuer metadata (validated).
    pub issuer: IssuerMetadata,
    /// The chosen authorization server's metadata (validated).
    pub authorization_server: AuthorizationServerMetadata,
}

impl IssuerContext {
    /// The credential issuer identifier.
    pub fn issuer_id(&self) -> &str {
        &self.issuer.credential_issuer
    }

    /// The OID4VCI version the issuer's metadata looks like; it decides the
    /// shape of the credential requests.
    pub fn spec_version(&self) -> crate::types::SpecVersion {
        self.issuer.detected_version
    }

    /// A configuration by id, or an error naming it.
    pub fn configuration(&self, id: &str) -> Result<&CredentialConfiguration> {
        self.issuer
            .credential_configurations_supported
            .get(id)
            .ok_or_else(|| {
                Error::InvalidState(format!(
                    "credential configuration {:?} is not offered by this issuer",
                    crate::error::sanitize(id, 64)
                ))
            })
    }
}

/// An offer whose issuer and authorization server metadata are fetched and
/// checked: ready to show to the user and to pick a grant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolvedOffer {
    pub(crate) offer: CredentialOffer,
    pub(crate) context: IssuerContext,
}

/// An offered credential with its configuration, for display.
#[derive(Debug, Clone, Copy)]
pub struct OfferedCredential<'a> {
    /// The configuration id.
    pub id: &'a str,
    /// Its metadata.
    pub configuration: &'a CredentialConfiguration,
}

impl OfferedCredential<'_> {
    /// The display name in the best matching locale, else the id, safe to
    /// show ([`crate::error::display_text`]; the raw one is in the metadata).
    pub fn name(&self, locales: &[String]) -> String {
        let name = self
            .configuration
            .display_for(locales)
            .and_then(|d| d.name.as_deref())
            .unwrap_or(self.id);
        crate::error::display_text(name).into_owned()
    }
}

impl ResolvedOffer {
    /// Joins an offer and its checked metadata. Fails if an offered id is unknown.
    pub fn new(offer: CredentialOffer, context: IssuerContext) -> Result<Self> {
        super::offer::validate_offer_against_metadata(&offer, &context.issuer)?;
        Ok(Self { offer, context })
    }

    /// The offer as received.
    pub fn offer(&self) -> &CredentialOffer {
        &self.offer
    }

    /// The credential issuer identifier.
    pub fn issuer_id(&self) -> &str {
        self.context.issuer_id()
    }

    /// The OID4VCI version the issuer speaks (1.0 or draft 13), as detected
    /// from its metadata.
    pub fn spec_version(&self) -> crate::types::SpecVersion {
        self.context.spec_version()
    }

    /// The issuer and authorization server metadata.
    pub fn context(&self) -> &IssuerContext {
        &self.context
    }

    /// The issuer's display entry for the locales.
    pub fn issuer_display(&self, locales: &[String]) -> Option<&Display> {
        self.context.issuer.display_for(locales)
    }

    /// The offered credentials, in offer order.
    pub fn credentials(&self) -> Vec<OfferedCredential<'_>> {
        self.offer
            .credential_configuration_ids
            .iter()
            .filter_map(|id| {
                let configuration = self
                    .context
                    .issuer
                    .credential_configurations_supported
                    .get(id)?;
                Some(OfferedCredential { id, configuration })
            })
            .collect()
    }

    /// The grants the offer allows, pre-authorized first. An offer without
    /// `grants` leaves the choice to the wallet (OID4VCI 1.0 section 4.1.1):
    /// the authorization code flow, when the server has an authorization
    /// endpoint.
    pub fn grants(&self) -> Vec<Grant> {
        let (pre, auth) = self.split_grants();
        pre.into_iter()
            .chain(auth.and_then(|a| a.ok()).map(Grant::AuthorizationCode))
            .collect()
    }

    fn split_grants(&self) -> (Option<Grant>, Option<Result<AuthorizationCodeStep>>) {
        let grants = self.offer.grants.clone().unwrap_or_default();
        let none_given =
            grants.pre_authorized_code.is_none() && grants.authorization_code.is_none();
        let pre = grants.pre_authorized_code.map(|pre| {
            Grant::PreAuthorized(PreAuthorizedStep {
                context: self.context.clone(),
                offered: self.offer.credential_configuration_ids.clone(),
                code: pre.pre_authorized_code,
                tx_code_spec: pre.tx_code,
                tx_code: None,
                capabilities: super::Capabilities::default(),
            })
        });
        let auth = match grants.authorization_code {
            Some(auth) => Some(auth.issuer_state),
            None if none_given => Some(None),
            None => None,
        }
        .map(|issuer_state| {
            AuthorizationCodeStep::new(
                self.context.clone(),
                self.offer.credential_configuration_ids.clone(),
                issuer_state,
            )
        });
        (pre, auth)
    }

    /// The grant to use: the pre-authorized one when offered, else the
    /// authorization code grant (an error says why it cannot run).
    pub fn grant(&self) -> Result<Grant> {
        match self.split_grants() {
            (Some(pre), _) => Ok(pre),
            (None, Some(auth)) => auth.map(Grant::AuthorizationCode),
            (None, None) => Err(Error::InvalidOffer("the offer has no usable grant".into())),
        }
    }

    /// Saves the resolved offer as JSON: the offer and the checked issuer and
    /// authorization server metadata, so that [`Self::from_json`] restores it
    /// without a request (an offer by reference is single use: it cannot be
    /// fetched again after the app was killed). It holds the pre-authorized
    /// code and any `issuer_state`: store it securely.
    pub fn to_json(&self) -> Result<String> {
        save_state(SavedKind::ResolvedOffer, self)
    }

    /// Restores an offer saved with [`Self::to_json`], making no request.
    /// Fails with [`Error::InvalidState`] naming what is wrong when the JSON
    /// is not a saved resolved offer (another state, a newer format, a
    /// missing field, an offer that does not match its metadata).
    pub fn from_json(json: &str) -> Result<Self> {
        let kind = SavedKind::ResolvedOffer;
        let saved: Self = restore_state(kind, json)?;
        if saved.offer.credential_issuer != saved.context.issuer.credential_issuer {
            return Err(kind.error("the offer's credential_issuer is not its metadata's"));
        }
        if saved.offer.credential_configuration_ids.is_empty() {
            return Err(kind.error("the offer names no credential configuration"));
        }
        Self::new(saved.offer, saved.context).map_err(|e| kind.error(e))
    }
}

/// A grant from the offer.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)] // moved once, not stored in bulk
pub enum Grant {
    /// The pre-authorized code grant: maybe a transaction code, then a token.
    PreAuthorized(PreAuthorizedStep),
    /// The authorization code grant (the user logs in at the authorization server).
    AuthorizationCode(AuthorizationCodeStep),
}

/// The pre-authorized grant, before the token request. When [`Self::tx_code`]
/// is `Some`, the user must enter a code ([`Self::with_tx_code`]) first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreAuthorizedStep {
    pub(crate) context: IssuerContext,
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
    pub fn tx_code(&self) -> Option<&TxCodeSpec> {
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
                return Err(Error::TxCode(format!(
                    "the offer requires a transaction code ({} characters, {:?} input){}",
                    spec.length
                        .map(|l| l.to_string())
                        .unwrap_or_else(|| "unknown number of".into()),
                    spec.mode(),
                    spec.description
                        .as_deref()
                        .map(|d| format!(": {}", crate::error::sanitize(d, 300)))
                        .unwrap_or_default()
                )))
            }
            (None, Some(_)) => {
                return Err(Error::TxCode(
                    "the offer has no transaction code, but one was given".into(),
                ))
            }
            (Some(spec), Some(code))
                if spec.mode() == crate::types::InputMode::Numeric
                    && !code.secret().chars().all(|c| c.is_ascii_digit()) =>
            {
                return Err(Error::TxCode("the transaction code must be numeric".into()));
            }
            _ => {}
        }
        let endpoint = self
            .context
            .authorization_server
            .token_endpoint
            .as_deref()
            .ok_or_else(|| {
                Error::InvalidState("authorization server has no token endpoint".into())
            })?;
        Ok(TokenExchange::pre_authorized(
            endpoint,
            &self.code,
            self.tx_code.as_ref(),
            self.client_id(client_id),
        ))
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
}

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
    pub(crate) context: IssuerContext,
    pub(crate) offered: Vec<String>,
    pub(crate) token: TokenState,
    /// `iss` for proofs; `None` for anonymous access.
    pub(crate) client_id: Option<String>,
    /// A draft-13 `c_nonce` from the token or last credential response.
    pub(crate) c_nonce: Option<String>,
    /// The DPoP key and nonces, when the authorization server uses DPoP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) dpop: Option<DpopState>,
}

impl Authorized {
    pub(crate) fn new(
        context: IssuerContext,
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
        }
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
    pub fn context(&self) -> &IssuerContext {
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
    /// [`Error::InvalidState`] naming what is wrong when the JSON is not a
    /// saved authorized session.
    pub fn from_json(json: &str) -> Result<Self> {
        restore_state(SavedKind::Authorized, json)
    }
}
