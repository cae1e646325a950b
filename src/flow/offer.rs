//! Credential offer URLs (OID4VCI 1.0 section 4.1) and the by-reference fetch.

use super::authorization::AuthorizationCodeStep;
use super::discovery::DiscoveredMetadata;
use super::pre_authorized::PreAuthorizedStep;
use super::saved::{restore_state, save_state, SavedKind};
use super::{
    describe_body, error_from_response, is_json, parse_json, EngineConfig, Exchange, Progress,
};
use crate::error::{display_url, sanitize, Endpoint, Error, Result};
use crate::http::{HttpRequest, HttpResponse};
use crate::types::{CredentialConfiguration, Display};
use crate::types::{CredentialOffer, IssuerMetadata};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// The most bytes of offer URL the parser looks at.
pub const MAX_OFFER_URL_BYTES: usize = 64 * 1024;

/// Where the offer is: in the URL, or behind `credential_offer_uri`.
#[derive(Debug, Clone, PartialEq)]
pub enum OfferSource {
    /// `credential_offer` carried the JSON.
    ByValue(CredentialOffer),
    /// `credential_offer_uri` must be fetched.
    ByReference(OfferFetch),
}

/// Parses an offer URL of any accepted scheme: `openid-credential-offer://`,
/// `haip-vci://`, `haip://`, or an `https://` link (a wallet's own
/// `credential_offer_endpoint`). Exactly one of `credential_offer` and
/// `credential_offer_uri` must be present.
pub fn parse_offer_url(input: &str, config: &EngineConfig) -> Result<OfferSource> {
    let input = input.trim();
    if input.len() > MAX_OFFER_URL_BYTES {
        return Err(Error::InvalidOffer(format!(
            "offer URL is {} bytes, more than the {MAX_OFFER_URL_BYTES} accepted",
            input.len()
        )));
    }
    let url = url::Url::parse(input).map_err(|e| Error::InvalidOffer(format!("not a URL: {e}")))?;
    match url.scheme() {
        "openid-credential-offer" | "haip-vci" | "haip" | "https" => {}
        "http" if config.allow_http => {}
        other => {
            return Err(Error::InvalidOffer(format!(
            "unsupported scheme {:?} (expected openid-credential-offer, haip-vci, haip or https)",
            sanitize(other, 32)
        )))
        }
    }
    let mut by_value = None;
    let mut by_reference = None;
    for (name, value) in url.query_pairs() {
        let slot = match name.as_ref() {
            "credential_offer" => &mut by_value,
            "credential_offer_uri" => &mut by_reference,
            _ => continue, // unknown parameters are ignored
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(Error::InvalidOffer(format!(
                "parameter {name} appears more than once"
            )));
        }
    }
    match (by_value, by_reference) {
        (Some(_), Some(_)) => Err(Error::InvalidOffer(
            "both credential_offer and credential_offer_uri are present; exactly one is allowed"
                .into(),
        )),
        (None, None) => Err(Error::InvalidOffer(
            "neither credential_offer nor credential_offer_uri is present".into(),
        )),
        (Some(json), None) => {
            let offer = parse_offer_json(json.as_bytes())
                .map_err(|e| Error::InvalidOffer(format!("credential_offer: {e}")))?;
            validate_offer(&offer, config)?;
            Ok(OfferSource::ByValue(offer))
        }
        (None, Some(uri)) => {
            crate::http::check_url(&uri, config.allow_http)
                .map_err(|e| Error::InvalidOffer(format!("credential_offer_uri: {e}")))?;
            Ok(OfferSource::ByReference(OfferFetch { uri }))
        }
    }
}

fn parse_offer_json(bytes: &[u8]) -> std::result::Result<CredentialOffer, String> {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(mut value @ serde_json::Value::Object(_)) => {
            crate::types::draft13::normalize_offer(&mut value);
            parse_json(&serde_json::to_vec(&value).unwrap_or_default())
        }
        Ok(_) => Err("not a JSON object".into()),
        Err(e) => Err(format!("not JSON ({})", sanitize(&e.to_string(), 80))),
    }
}

/// Checks an offer on its own (before metadata is known): the issuer
/// identifier, the configuration ids, and the grants.
pub(crate) fn validate_offer(offer: &CredentialOffer, config: &EngineConfig) -> Result<()> {
    check_issuer_identifier(&offer.credential_issuer, config)
        .map_err(|e| Error::InvalidOffer(format!("credential_issuer: {e}")))?;
    let ids = &offer.credential_configuration_ids;
    let legacy = offer
        .legacy_credentials
        .as_ref()
        .is_some_and(|l| !l.is_empty());
    if ids.is_empty() && !legacy {
        return Err(Error::InvalidOffer(
            "credential_configuration_ids is empty".into(),
        ));
    }
    let mut seen = HashSet::new();
    for id in ids {
        if !seen.insert(id) {
            return Err(Error::InvalidOffer(format!(
                "credential_configuration_ids lists {:?} twice",
                sanitize(id, 64)
            )));
        }
    }
    if let Some(pre) = offer
        .grants
        .as_ref()
        .and_then(|g| g.pre_authorized_code.as_ref())
    {
        if pre.pre_authorized_code.secret().is_empty() {
            return Err(Error::InvalidOffer("pre-authorized_code is empty".into()));
        }
    }
    Ok(())
}

/// Checks an offer against the issuer's metadata: every offered id must exist.
pub fn validate_offer_against_metadata(
    offer: &CredentialOffer,
    metadata: &IssuerMetadata,
) -> Result<()> {
    for id in &offer.credential_configuration_ids {
        if !metadata
            .credential_configurations_supported
            .contains_key(id)
        {
            return Err(Error::InvalidOffer(format!(
                "credential configuration {:?} is not in the issuer's credential_configurations_supported",
                sanitize(id, 64)
            )));
        }
    }
    Ok(())
}

/// A credential issuer identifier: https (loopback http when allowed), a host,
/// no query, no fragment.
pub(crate) fn check_issuer_identifier(
    id: &str,
    config: &EngineConfig,
) -> std::result::Result<(), String> {
    let url = crate::http::check_url(id, config.allow_http).map_err(|e| e.to_string())?;
    if url.query().is_some() || url.fragment().is_some() || id.contains(['?', '#']) {
        return Err(format!("{} has a query or fragment", display_url(id)));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("no host".into());
    }
    Ok(())
}

/// Fetching an offer by reference (`credential_offer_uri`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferFetch {
    /// The URI to GET.
    pub uri: String,
}

impl Exchange for OfferFetch {
    type Output = CredentialOffer;

    fn endpoint(&self) -> Endpoint {
        Endpoint::CredentialOffer
    }

    fn prepare_request(&self, _config: &EngineConfig) -> Result<HttpRequest> {
        Ok(HttpRequest::get(&self.uri).header("accept", "application/json"))
    }

    fn handle_response(
        self,
        response: HttpResponse,
        config: &EngineConfig,
    ) -> Result<Progress<Self, CredentialOffer>> {
        if matches!(response.status, 404 | 410) {
            // Offers by reference are often single use, or short-lived.
            return Err(Error::OfferUnavailable {
                url: display_url(&self.uri),
                status: response.status,
            });
        }
        if !response.is_success() {
            return Err(error_from_response(
                Endpoint::CredentialOffer,
                &self.uri,
                &response,
            ));
        }
        let invalid = |problem: String| {
            Error::InvalidOffer(format!("offer from {}: {problem}", display_url(&self.uri)))
        };
        if !is_json(&response) {
            // Signed (JWT) offers are not part of OID4VCI: reject rather than guess.
            return Err(invalid(format!(
                "expected application/json, got {}",
                describe_body(&response)
            )));
        }
        let offer = parse_offer_json(&response.body).map_err(invalid)?;
        validate_offer(&offer, config)?;
        Ok(Progress::Done(offer))
    }
}

/// An offer whose issuer and authorization server metadata are fetched and
/// checked: ready to show to the user and to pick a grant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolvedOffer {
    pub(crate) offer: CredentialOffer,
    pub(crate) context: DiscoveredMetadata,
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
    pub fn new(offer: CredentialOffer, context: DiscoveredMetadata) -> Result<Self> {
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
    pub fn context(&self) -> &DiscoveredMetadata {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> EngineConfig {
        EngineConfig::default()
    }

    fn by_value(json: &str) -> String {
        format!(
            "openid-credential-offer://?credential_offer={}",
            url::form_urlencoded::byte_serialize(json.as_bytes()).collect::<String>()
        )
    }

    const GOOD: &str = r#"{"credential_issuer":"https://issuer.example/t","credential_configuration_ids":["a"],
        "grants":{"urn:ietf:params:oauth:grant-type:pre-authorized_code":{"pre-authorized_code":"x","tx_code":{}}}}"#;

    #[test]
    fn parses_by_value_in_every_scheme() {
        for scheme in [
            "openid-credential-offer://",
            "haip-vci://",
            "haip://",
            "https://wallet.example/offer",
        ] {
            let url = by_value(GOOD).replacen("openid-credential-offer://", scheme, 1);
            match parse_offer_url(&url, &cfg()).unwrap() {
                OfferSource::ByValue(o) => {
                    assert_eq!(o.credential_issuer, "https://issuer.example/t");
                    let pre = o.grants.unwrap().pre_authorized_code.unwrap();
                    assert_eq!(
                        pre.tx_code.unwrap().mode(),
                        crate::types::InputMode::Numeric
                    );
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn rejects_both_neither_and_bad_schemes() {
        let both = format!(
            "{}&credential_offer_uri=https%3A%2F%2Fi.example%2Fo",
            by_value(GOOD)
        );
        assert!(
            matches!(parse_offer_url(&both, &cfg()), Err(Error::InvalidOffer(m)) if m.contains("both"))
        );
        assert!(
            matches!(parse_offer_url("openid-credential-offer://?x=1", &cfg()), Err(Error::InvalidOffer(m)) if m.contains("neither"))
        );
        assert!(parse_offer_url("mailto:x@example.com?credential_offer=%7B%7D", &cfg()).is_err());
    }

    #[test]
    fn by_reference_must_be_https() {
        let url = "openid-credential-offer://?credential_offer_uri=http%3A%2F%2Fi.example%2Fo";
        assert!(matches!(
            parse_offer_url(url, &cfg()),
            Err(Error::InvalidOffer(_))
        ));
        let url = "openid-credential-offer://?credential_offer_uri=https%3A%2F%2Fi.example%2Fo%2F1";
        assert!(
            matches!(parse_offer_url(url, &cfg()).unwrap(), OfferSource::ByReference(f) if f.uri == "https://i.example/o/1")
        );
    }

    #[test]
    fn validates_offer_fields() {
        let cases = [
            (
                r#"{"credential_issuer":"http://i.example","credential_configuration_ids":["a"]}"#,
                "credential_issuer",
            ),
            (
                r#"{"credential_issuer":"https://i.example?x=1","credential_configuration_ids":["a"]}"#,
                "query",
            ),
            (
                r#"{"credential_issuer":"https://i.example","credential_configuration_ids":[]}"#,
                "empty",
            ),
            (
                r#"{"credential_issuer":"https://i.example","credential_configuration_ids":["a","a"]}"#,
                "twice",
            ),
            (
                r#"{"credential_configuration_ids":["a"]}"#,
                "credential_issuer",
            ),
            (
                r#"{"credential_issuer":"https://i.example","credential_configuration_ids":"a"}"#,
                "credential_configuration_ids",
            ),
            ("[1]", "JSON object"),
            ("{not json", "not JSON"),
        ];
        for (json, needle) in cases {
            match parse_offer_url(&by_value(json), &cfg()) {
                Err(Error::InvalidOffer(m)) => assert!(m.contains(needle), "{json}: {m}"),
                other => panic!("{json}: {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_parameters_and_fields_are_ignored() {
        let json = r#"{"credential_issuer":"https://i.example","credential_configuration_ids":["a"],"future":1}"#;
        let url = format!("{}&utm=x", by_value(json));
        assert!(parse_offer_url(&url, &cfg()).is_ok());
    }
}
