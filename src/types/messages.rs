//! Token, nonce, credential, deferred and notification messages, and the
//! OAuth error object.

use super::secret::{AccessToken, RefreshToken};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A successful token response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: AccessToken,
    /// `Bearer` or `DPoP` (compared case-insensitively).
    pub token_type: String,
    /// Lifetime in seconds, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
    /// Refresh token, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    /// Granted scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Granted authorization details with credential identifiers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_details: Option<Vec<AuthorizationDetail>>,
    /// Draft-13 nonce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub c_nonce: Option<String>,
    /// Draft-13 nonce lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub c_nonce_expires_in: Option<u64>,
}

/// An `openid_credential` authorization details entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthorizationDetail {
    /// Always `openid_credential` for OID4VCI.
    #[serde(rename = "type")]
    pub kind: String,
    /// The configuration this entry is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_configuration_id: Option<String>,
    /// Identifiers to request with `credential_identifier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_identifiers: Option<Vec<String>>,
    /// Issuer locations (when the AS is separate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locations: Option<Vec<String>>,
}

/// A nonce endpoint response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NonceResponse {
    /// The nonce to put in proofs.
    pub c_nonce: String,
}

/// A credential request (1.0).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CredentialRequest {
    /// From the token response's authorization details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_identifier: Option<String>,
    /// When no identifier was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_configuration_id: Option<String>,
    /// Proofs of possession, keyed by proof type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proofs: Option<Proofs>,
}

/// The `proofs` object: one proof type with a non-empty array.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Proofs {
    /// JWT proofs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jwt: Vec<String>,
    /// A key attestation as the proof (`attestation` proof type, OID4VCI
    /// 1.0 appendix F.3): one JWT whose `attested_keys` are the keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attestation: Vec<String>,
}

/// A credential response (immediate or deferred-pending) as it comes off the wire.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CredentialResponse {
    /// The issued credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Vec<CredentialObject>>,
    /// Deferred: the transaction to poll.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// Deferred: seconds to wait before polling (signed, to catch bad values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    /// Identifier for the notification endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_id: Option<String>,
}

/// One entry of `credentials`. Also read from the bare-string shape of
/// drafts 14 and 15 (`"credentials": ["<compact credential>"]`), which some
/// deployed issuers still send to 1.0 requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Value")]
pub struct CredentialObject {
    /// A string (SD-JWT, mdoc, JWT) or an object (ldp_vc).
    pub credential: Value,
}

impl TryFrom<Value> for CredentialObject {
    type Error = String;

    fn try_from(entry: Value) -> Result<Self, String> {
        match entry {
            Value::Object(mut object) => match object.remove("credential") {
                Some(credential) => Ok(Self { credential }),
                None => Err("missing field `credential`".into()),
            },
            Value::String(text) => {
                tracing::debug!("credentials entry as a bare string (draft 14/15 shape)");
                Ok(Self {
                    credential: Value::String(text),
                })
            }
            _ => Err("expected an object with `credential` (or a bare string)".into()),
        }
    }
}

/// A deferred credential request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeferredRequest {
    /// The transaction to poll.
    pub transaction_id: String,
}

/// A notification request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationRequest {
    /// From the credential response.
    pub notification_id: String,
    /// What happened.
    pub event: NotificationEvent,
    /// Printable ASCII without `"` and `\`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_description: Option<String>,
}

/// Notification events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationEvent {
    /// The credential was stored.
    CredentialAccepted,
    /// The user deleted (or declined) the credential.
    CredentialDeleted,
    /// Anything else went wrong.
    CredentialFailure,
}

/// An OAuth / OID4VCI error object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// The code.
    pub error: String,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// Draft-13 fresh nonce in `invalid_proof` errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub c_nonce: Option<String>,
}
