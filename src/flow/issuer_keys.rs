//! The keys of the issuer of a received credential, fetched for its check
//! (`received`): an SD-JWT VC issuer's JWT VC issuer metadata
//! (`/.well-known/jwt-vc-issuer`, or its `jwks_uri`), and a `did:web`
//! document.

use super::discovery::{no_cache_if, parse_object, well_known};
use super::{check_endpoint, EngineConfig, Exchange, Progress};
use crate::error::{Document, Endpoint, Error, Result};
use crate::http::{HttpRequest, HttpResponse};

/// Fetching an SD-JWT VC issuer's keys from `/.well-known/jwt-vc-issuer`
/// (inserted after the host, like the credential issuer metadata), following
/// `jwks_uri` when the keys are not inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtVcIssuerKeys {
    issuer: String,
    url: String,
    jwks_uri: bool,
    refetch: bool,
}

impl JwtVcIssuerKeys {
    /// Key discovery for the `iss` of an SD-JWT VC.
    pub fn new(issuer: &str) -> Result<Self> {
        Ok(Self {
            issuer: issuer.to_string(),
            url: well_known(issuer, "jwt-vc-issuer", false)?,
            jwks_uri: false,
            refetch: false,
        })
    }

    /// Fetches past any cache (`Cache-Control: no-cache`): the cached keys
    /// did not verify.
    pub fn refetching(mut self) -> Self {
        self.refetch = true;
        self
    }

    /// Where the keys are fetched from.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Exchange for JwtVcIssuerKeys {
    type Output = Vec<serde_json::Value>;

    fn endpoint(&self) -> Endpoint {
        Endpoint::JwtVcIssuerMetadata
    }

    fn prepare_request(&self, _config: &EngineConfig) -> Result<HttpRequest> {
        Ok(no_cache_if(
            self.refetch,
            HttpRequest::get(&self.url).header("accept", "application/json"),
        ))
    }

    fn cacheable(&self) -> bool {
        true
    }

    fn handle_response(
        self,
        response: HttpResponse,
        config: &EngineConfig,
    ) -> Result<Progress<Self, Self::Output>> {
        let doc = Document::JwtVcIssuerMetadata;
        let value = parse_object(doc, &self.url, &response)?;
        if !self.jwks_uri {
            if value.get("issuer").and_then(|v| v.as_str()) != Some(self.issuer.as_str()) {
                return Err(Error::metadata(
                    doc,
                    &self.url,
                    "field issuer: does not equal the credential's iss",
                ));
            }
            if let Some(uri) = value.get("jwks_uri").and_then(|v| v.as_str()) {
                if value.get("jwks").is_none() {
                    check_endpoint(doc, &self.url, "jwks_uri", uri, config)?;
                    return Ok(Progress::Again(Self {
                        url: uri.to_string(),
                        jwks_uri: true,
                        ..self
                    }));
                }
            }
        }
        let set = if self.jwks_uri {
            Some(&value)
        } else {
            value.get("jwks")
        };
        let keys = set
            .and_then(|s| s.get("keys"))
            .and_then(|k| k.as_array())
            .ok_or_else(|| {
                Error::metadata(doc, &self.url, "field jwks.keys: missing or not an array")
            })?;
        Ok(Progress::Done(keys.iter().take(64).cloned().collect()))
    }
}

/// Fetching the DID document of a `did:web` issuer (its `did.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DidWebDocument {
    url: String,
    refetch: bool,
}

impl DidWebDocument {
    /// The document at `url` (from [`crate::verify::did::resolve`]).
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_string(),
            refetch: false,
        }
    }

    /// Fetches past any cache (`Cache-Control: no-cache`): the cached
    /// document's keys did not verify.
    pub fn refetching(mut self) -> Self {
        self.refetch = true;
        self
    }
}

impl Exchange for DidWebDocument {
    type Output = serde_json::Value;

    fn endpoint(&self) -> Endpoint {
        Endpoint::DidDocument
    }

    fn prepare_request(&self, _config: &EngineConfig) -> Result<HttpRequest> {
        Ok(no_cache_if(
            self.refetch,
            HttpRequest::get(&self.url).header("accept", "application/did+json, application/json"),
        ))
    }

    fn cacheable(&self) -> bool {
        true
    }

    fn handle_response(
        self,
        response: HttpResponse,
        _config: &EngineConfig,
    ) -> Result<Progress<Self, Self::Output>> {
        let document = parse_object(Document::DidDocument, &self.url, &response)?;
        Ok(Progress::Done(document))
    }
}
