//! The credential offer (OID4VCI 1.0 section 4.1; draft 13 has the same shape).

use super::secret::{IssuerState, PreAuthorizedCode};
use serde::{Deserialize, Serialize};

/// The grant type URN of the pre-authorized code flow.
pub const PRE_AUTHORIZED_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:pre-authorized_code";

/// A credential offer as sent by the issuer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CredentialOffer {
    /// The issuer identifier (an https URL).
    pub credential_issuer: String,
    /// The offered credential configurations (keys of the issuer metadata's
    /// `credential_configurations_supported`).
    pub credential_configuration_ids: Vec<String>,
    /// The grants the wallet may use; absent means "ask the authorization server".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grants: Option<OfferGrants>,
    /// Draft-11/12 `credentials` objects (format and type instead of an id),
    /// matched to configuration ids once the metadata is known.
    #[serde(
        default,
        rename = "x-oid4vci-wallet-legacy-credentials",
        skip_serializing_if = "Option::is_none"
    )]
    pub legacy_credentials: Option<Vec<serde_json::Value>>,
}

/// The `grants` object of an offer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OfferGrants {
    /// The authorization code grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_code: Option<AuthorizationCodeGrant>,
    /// The pre-authorized code grant.
    #[serde(
        default,
        rename = "urn:ietf:params:oauth:grant-type:pre-authorized_code",
        skip_serializing_if = "Option::is_none"
    )]
    pub pre_authorized_code: Option<PreAuthorizedCodeGrant>,
}

/// The authorization code grant parameters of an offer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthorizationCodeGrant {
    /// Opaque value to send back as `issuer_state` in the authorization request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_state: Option<IssuerState>,
    /// Which of the issuer's authorization servers to use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_server: Option<String>,
}

/// The pre-authorized code grant parameters of an offer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreAuthorizedCodeGrant {
    /// The pre-authorized code (a secret).
    #[serde(rename = "pre-authorized_code")]
    pub pre_authorized_code: PreAuthorizedCode,
    /// Present (even empty) when the user must enter a transaction code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_code: Option<TxCodeSpec>,
    /// Which of the issuer's authorization servers to use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_server: Option<String>,
}

/// What the app tells the user about the transaction code to enter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxCodeSpec {
    /// `numeric` (the default) or `text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_mode: Option<InputMode>,
    /// The number of characters, a UI hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u32>,
    /// Guidance for the user (at most 300 characters per spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl TxCodeSpec {
    /// The input mode, applying the spec's default (`numeric`).
    pub fn mode(&self) -> InputMode {
        self.input_mode.unwrap_or(InputMode::Numeric)
    }
}

/// How the transaction code is entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputMode {
    /// Digits only.
    Numeric,
    /// Any characters.
    Text,
}
