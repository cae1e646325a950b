//! Credential issuer metadata (OID4VCI 1.0 section 12.2) and authorization
//! server metadata (RFC 8414). Draft-13 fields are accepted beside 1.0 ones.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Credential issuer metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssuerMetadata {
    /// The issuer identifier; must equal the one the metadata was fetched for.
    pub credential_issuer: String,
    /// Authorization servers; absent means the issuer is its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_servers: Option<Vec<String>>,
    /// The credential endpoint.
    pub credential_endpoint: String,
    /// The nonce endpoint (1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce_endpoint: Option<String>,
    /// The deferred credential endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deferred_credential_endpoint: Option<String>,
    /// The notification endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_endpoint: Option<String>,
    /// Batch issuance support (1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_credential_issuance: Option<BatchCredentialIssuance>,
    /// How the issuer names itself, per locale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<Vec<Display>>,
    /// Credential response encryption the issuer supports (1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_response_encryption: Option<ResponseEncryptionMetadata>,
    /// Credential request encryption: the issuer's keys (1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_request_encryption: Option<RequestEncryptionMetadata>,
    /// The credentials the issuer can issue, by configuration id.
    pub credential_configurations_supported: BTreeMap<String, CredentialConfiguration>,
    /// The OID4VCI version the document looks like, set by the wallet while
    /// normalising it (never taken from the issuer).
    #[serde(default, rename = "x-oid4vci-wallet-detected-version")]
    pub detected_version: super::SpecVersion,
}

impl IssuerMetadata {
    /// The issuer's display entry best matching the locales (in preference order).
    pub fn display_for(&self, locales: &[String]) -> Option<&Display> {
        pick_display(self.display.as_deref().unwrap_or_default(), locales)
    }
}

/// `credential_response_encryption` in the issuer metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseEncryptionMetadata {
    /// JWE `alg` values the issuer can encrypt responses with.
    pub alg_values_supported: Vec<String>,
    /// JWE `enc` values.
    pub enc_values_supported: Vec<String>,
    /// JWE `zip` values (this wallet never asks for compression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip_values_supported: Option<Vec<String>>,
    /// Whether every credential response must be encrypted.
    #[serde(default)]
    pub encryption_required: bool,
}

/// `credential_request_encryption` in the issuer metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestEncryptionMetadata {
    /// The issuer's public keys (a JWK Set) to encrypt requests to.
    pub jwks: JwkSet,
    /// JWE `enc` values.
    pub enc_values_supported: Vec<String>,
    /// JWE `zip` values (this wallet never compresses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip_values_supported: Option<Vec<String>>,
    /// Whether every credential request must be encrypted.
    #[serde(default)]
    pub encryption_required: bool,
}

/// A JWK Set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<serde_json::Value>,
}

/// `batch_credential_issuance`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchCredentialIssuance {
    /// The largest number of proofs (and credentials) in one request.
    pub batch_size: u32,
}

/// A display entry (issuer or credential): name, locale, logo, colours.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Display {
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// BCP 47 language tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Logo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<Logo>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Background colour (CSS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background_color: Option<String>,
    /// Text colour (CSS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_color: Option<String>,
}

/// A logo reference.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Logo {
    /// `https:` or `data:` URI.
    #[serde(default, alias = "url", skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Alternative text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt_text: Option<String>,
}

/// One entry of `credential_configurations_supported`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CredentialConfiguration {
    /// Credential format (`dc+sd-jwt`, `mso_mdoc`, `jwt_vc_json`, ...).
    pub format: String,
    /// OAuth scope for this configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// SD-JWT VC type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vct: Option<String>,
    /// mdoc doctype.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doctype: Option<String>,
    /// Present: the credential is bound to a key of the wallet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cryptographic_binding_methods_supported: Option<Vec<String>>,
    /// Algorithms the issuer signs with (strings, or COSE numbers for mdoc).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_signing_alg_values_supported: Option<Vec<Value>>,
    /// Present: proofs must be sent, of one of these types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof_types_supported: Option<BTreeMap<String, ProofTypeMetadata>>,
    /// Display and claims (1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_metadata: Option<CredentialMetadata>,
    /// `credential_definition` (`jwt_vc_json`, `ldp_vc`: the credential types).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_definition: Option<Value>,
    /// Display (draft 13 places it here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<Vec<Display>>,
}

impl CredentialConfiguration {
    /// Whether the credential is bound to a wallet key (so proofs are needed).
    pub fn requires_key_binding(&self) -> bool {
        self.cryptographic_binding_methods_supported.is_some()
    }

    /// The display entries, from `credential_metadata` (1.0) or the draft-13 place.
    pub fn displays(&self) -> &[Display] {
        self.credential_metadata
            .as_ref()
            .and_then(|m| m.display.as_deref())
            .or(self.display.as_deref())
            .unwrap_or_default()
    }

    /// The claim descriptions (1.0 `credential_metadata.claims`).
    pub fn claims(&self) -> &[ClaimDescription] {
        self.credential_metadata
            .as_ref()
            .and_then(|m| m.claims.as_deref())
            .unwrap_or_default()
    }

    /// The display entry best matching the locales (in preference order).
    pub fn display_for(&self, locales: &[String]) -> Option<&Display> {
        pick_display(self.displays(), locales)
    }
}

/// Parameters of one proof type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProofTypeMetadata {
    /// Accepted signing algorithms.
    #[serde(default)]
    pub proof_signing_alg_values_supported: Vec<String>,
    /// Key attestation requirements, kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_attestations_required: Option<Value>,
}

/// `credential_metadata` (1.0).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CredentialMetadata {
    /// Display entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<Vec<Display>>,
    /// Claim descriptions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<Vec<ClaimDescription>>,
}

/// A claim description: a path into the credential and how to show it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClaimDescription {
    /// Path: strings select object members, integers array elements, null all elements.
    pub path: Vec<Value>,
    /// Whether the issuer always includes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mandatory: Option<bool>,
    /// Labels per locale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<Vec<Display>>,
}

impl ClaimDescription {
    /// The label best matching the locales.
    pub fn label_for(&self, locales: &[String]) -> Option<&str> {
        pick_display(self.display.as_deref().unwrap_or_default(), locales)
            .and_then(|d| d.name.as_deref())
    }
}

/// Picks the display entry for the first locale that matches (exactly, then by
/// primary language), else the first entry without a locale, else the first.
pub(crate) fn pick_display<'a>(displays: &'a [Display], locales: &[String]) -> Option<&'a Display> {
    let lang = |s: &str| {
        s.split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    for wanted in locales {
        if let Some(d) = displays.iter().find(|d| {
            d.locale
                .as_deref()
                .is_some_and(|l| l.eq_ignore_ascii_case(wanted))
        }) {
            return Some(d);
        }
        if let Some(d) = displays
            .iter()
            .find(|d| d.locale.as_deref().is_some_and(|l| lang(l) == lang(wanted)))
        {
            return Some(d);
        }
    }
    displays
        .iter()
        .find(|d| d.locale.is_none())
        .or(displays.first())
}

/// OAuth 2.0 authorization server metadata (RFC 8414), the fields a wallet reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthorizationServerMetadata {
    /// The AS identifier; must equal the one the metadata was fetched for.
    pub issuer: String,
    /// Token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// Authorization endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// PAR endpoint (RFC 9126).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_authorization_request_endpoint: Option<String>,
    /// Whether PAR is mandatory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_pushed_authorization_requests: Option<bool>,
    /// PKCE methods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// DPoP algorithms (RFC 9449).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_signing_alg_values_supported: Option<Vec<String>>,
    /// `authorization_details` types (RFC 9396).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_details_types_supported: Option<Vec<String>>,
    /// RFC 9207 `iss` in authorization responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_response_iss_parameter_supported: Option<bool>,
    /// Whether the pre-authorized grant works without client authentication.
    #[serde(
        default,
        rename = "pre-authorized_grant_anonymous_access_supported",
        skip_serializing_if = "Option::is_none"
    )]
    pub pre_authorized_grant_anonymous_access_supported: Option<bool>,
    /// Grant types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types_supported: Option<Vec<String>>,
    /// Attestation challenge endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge_endpoint: Option<String>,
}
