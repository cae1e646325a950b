//! Credential offer URLs (OID4VCI 1.0 section 4.1) and the by-reference fetch.

use super::{
    describe_body, error_from_response, is_json, parse_json, EngineConfig, Exchange, Progress,
};
use crate::error::{display_url, sanitize, Endpoint, Error, Result};
use crate::http::{HttpRequest, HttpResponse};
use crate::types::{CredentialOffer, IssuerMetadata};
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
pub fn validate_offer(offer: &CredentialOffer, config: &EngineConfig) -> Result<()> {
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
