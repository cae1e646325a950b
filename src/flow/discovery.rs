//! Metadata discovery: the credential issuer's (OID4VCI 1.0 section 12.2.2) and
//! the authorization server's (RFC 8414, with the OpenID Connect fallback).

use super::authorization::AuthorizationCodeStep;
use super::driver::{run, Driver};
use super::offer::{check_issuer_identifier, parse_offer_url, OfferSource, ResolvedOffer};
use super::receive::{Observer, ReceiveStage};
use super::{
    accept_language, check_endpoint, describe_body, is_json, EngineConfig, Exchange, Progress,
};
use crate::error::{sanitize, Document, Endpoint, Error, Result};
use crate::http::cache::served_from_cache;
use crate::http::{HttpRequest, HttpResponse};
use crate::types::{AuthorizationServerMetadata, CredentialConfiguration, IssuerMetadata};
use serde::{Deserialize, Serialize};

/// The 1.0 metadata URL: `/.well-known/openid-credential-issuer` inserted
/// between the host and the path of the identifier (a trailing slash kept).
pub(crate) fn issuer_metadata_url(issuer: &str) -> Result<String> {
    well_known(issuer, "openid-credential-issuer", false)
}

/// The metadata URL of drafts 11 to 13: the well-known suffix appended to
/// the identifier.
pub(crate) fn issuer_metadata_appended_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-credential-issuer",
        issuer.trim_end_matches('/')
    )
}

/// The RFC 8414 URL: a trailing slash of the path removed, then
/// `/.well-known/oauth-authorization-server` inserted after the host.
pub(crate) fn as_metadata_url(issuer: &str) -> Result<String> {
    well_known(issuer, "oauth-authorization-server", true)
}

/// The OpenID Connect discovery URL (appended), the fallback after a 404.
pub(crate) fn openid_configuration_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

pub(super) fn well_known(issuer: &str, suffix: &str, strip_trailing_slash: bool) -> Result<String> {
    let url = url::Url::parse(issuer)
        .map_err(|e| Error::InvalidOffer(format!("issuer identifier is not a URL: {e}")))?;
    let host = url
        .host_str()
        .ok_or_else(|| Error::InvalidOffer("issuer identifier has no host".into()))?;
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let mut path = url.path();
    if path == "/" || (strip_trailing_slash && path.ends_with('/')) {
        path = path.strip_suffix('/').unwrap_or(path);
    }
    Ok(format!(
        "{}://{host}{port}/.well-known/{suffix}{path}",
        url.scheme()
    ))
}

/// Fetching and checking the credential issuer metadata. Tries the 1.0 URL and,
/// only after a 404 there, the appended URL of drafts 11 to 13. A document
/// with `credentials_supported` (drafts 11 and 12) is converted to the 1.0
/// model; draft-13 shapes are normalised.
///
/// Cacheable: a document answered from a cache (it carries `Age`) that lacks
/// a configuration the offer names ([`Self::expecting`]) is fetched once
/// more, with `Cache-Control: no-cache`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerMetadataDiscovery {
    issuer: String,
    url: String,
    appended: bool,
    now: Option<u64>,
    expected: Vec<String>,
    refetch: bool,
}

impl IssuerMetadataDiscovery {
    /// Discovery for an issuer identifier.
    pub fn new(issuer: &str) -> Result<Self> {
        Ok(Self {
            issuer: issuer.to_string(),
            url: issuer_metadata_url(issuer)?,
            appended: false,
            now: None,
            expected: Vec::new(),
            refetch: false,
        })
    }

    /// The configuration ids the metadata must have (an offer's): a cached
    /// document without one of them is fetched again, once.
    pub fn expecting(mut self, configuration_ids: &[String]) -> Self {
        self.expected = configuration_ids.to_vec();
        self
    }

    /// The time (seconds since the epoch) signed metadata is checked at:
    /// without it a signed document is refused. With trust anchors in the
    /// [`EngineConfig`] the request asks for signed metadata
    /// (`application/jwt`, JSON still accepted), verified against them.
    pub fn at(mut self, now: u64) -> Self {
        self.now = Some(now);
        self
    }

    /// The URL this step fetches.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Exchange for IssuerMetadataDiscovery {
    type Output = IssuerMetadata;

    fn endpoint(&self) -> Endpoint {
        Endpoint::IssuerMetadata
    }

    fn prepare_request(&self, config: &EngineConfig) -> Result<HttpRequest> {
        // Signed metadata only helps a wallet with anchors to check it by.
        let accept = if config.trust.anchors.is_empty() {
            "application/json"
        } else {
            "application/jwt, application/json;q=0.9"
        };
        Ok(no_cache_if(
            self.refetch,
            HttpRequest::get(&self.url)
                .header("accept", accept)
                .header("accept-language", accept_language(config)),
        ))
    }

    fn cacheable(&self) -> bool {
        true
    }

    fn handle_response(
        self,
        response: HttpResponse,
        config: &EngineConfig,
    ) -> Result<Progress<Self, IssuerMetadata>> {
        let doc = Document::IssuerMetadata;
        let cached = served_from_cache(&response);
        if response.status == 404 && !self.appended {
            let url = issuer_metadata_appended_url(&self.issuer);
            if url != self.url {
                return Ok(Progress::Again(Self {
                    url,
                    appended: true,
                    ..self
                }));
            }
        }
        let signed = |jwt: &str| -> Result<serde_json::Map<String, serde_json::Value>> {
            let now = self.now.ok_or_else(|| {
                Error::metadata(
                    doc,
                    &self.url,
                    "signed metadata, but no time to check it at (IssuerMetadataDiscovery::at)",
                )
            })?;
            crate::verify::signed_metadata::verify_signed_metadata(
                jwt,
                &self.issuer,
                &config.trust.anchors,
                now,
            )
            .map_err(|e| Error::metadata(doc, &self.url, format!("signed metadata: {e}")))
        };
        if let Some(metadata) = plain_v1_metadata(&response, self.appended) {
            return self.checked(metadata, cached, config);
        }
        let mut raw: serde_json::Value = if response.is_success()
            && response.media_type().as_deref() == Some("application/jwt")
        {
            let text = std::str::from_utf8(&response.body)
                .map_err(|_| Error::metadata(doc, &self.url, "signed metadata is not text"))?;
            serde_json::Value::Object(signed(text)?)
        } else {
            parse_object(doc, &self.url, &response)?
        };
        // Draft 13: a signed_metadata JWT inside the JSON, whose claims
        // override the plain ones; read when the wallet has anchors to check
        // it by (without, the plain values are what it has anyway).
        if let Some(jwt) = raw
            .get("signed_metadata")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
        {
            if !config.trust.anchors.is_empty() {
                if let Some(object) = raw.as_object_mut() {
                    object.remove("signed_metadata");
                    object.extend(signed(&jwt)?);
                }
            }
        }
        let metadata: IssuerMetadata = if crate::types::draft11::is_draft11_metadata(&raw) {
            // Drafts 11 and 12: `credentials_supported`, converted to the
            // 1.0 model (the version is recorded there).
            crate::types::draft11::issuer_metadata_from_draft11(&raw)
                .map_err(|e| Error::metadata(doc, &self.url, e.to_string()))?
        } else {
            crate::types::draft13::normalize_issuer_metadata(&mut raw, self.appended);
            super::parse_value(raw).map_err(|e| Error::metadata(doc, &self.url, e))?
        };
        self.checked(metadata, cached, config)
    }
}

impl IssuerMetadataDiscovery {
    /// Checks parsed metadata against the issuer identifier and the offer:
    /// done, or (a cached copy lacking an offered configuration) once again.
    fn checked(
        self,
        metadata: IssuerMetadata,
        cached: bool,
        config: &EngineConfig,
    ) -> Result<Progress<Self, IssuerMetadata>> {
        validate_issuer_metadata(&metadata, &self.issuer, &self.url, config)?;
        let missing = self.expected.iter().any(|id| {
            !metadata
                .credential_configurations_supported
                .contains_key(id)
        });
        if cached && missing && !self.refetch {
            // A cached document older than the offer: ask the server, once.
            tracing::debug!(url = %crate::error::display_url(&self.url), "cached issuer metadata lacks an offered configuration; refetching");
            return Ok(Progress::Again(Self {
                refetch: true,
                ..self
            }));
        }
        Ok(Progress::Done(metadata))
    }
}

/// The fast path of issuer metadata: a 2xx JSON document with none of the
/// members that the normalising path acts on (a draft 11/12
/// `credentials_supported`, draft 13's root members or per-configuration
/// `display` / `claims` / `vc+sd-jwt`, `signed_metadata`, our own version
/// member), at the 1.0 URL, parsed straight into its types: what the
/// normalising path would make of it, without a `serde_json::Value` on the
/// way. `None` sends it the slow way, which also names any error.
fn plain_v1_metadata(response: &HttpResponse, appended: bool) -> Option<IssuerMetadata> {
    if appended || !response.is_success() || !is_json(response) {
        return None;
    }
    let probe: PlainProbe<'_> = serde_json::from_slice(&response.body).ok()?;
    let plain = !(probe.credentials_supported.0
        || probe.signed_metadata.0
        || probe.batch_credential_endpoint.0
        || probe.credential_identifiers_supported.0
        || probe.detected_version.0)
        && probe.credential_configurations_supported.0;
    if !plain {
        return None;
    }
    let mut metadata: IssuerMetadata = serde_json::from_slice(&response.body).ok()?;
    metadata.detected_version = crate::types::SpecVersion::V1;
    Some(metadata)
}

/// Which members that change a document's reading it has (present at all,
/// whatever their value, as the normalising path sees them).
#[derive(serde::Deserialize)]
struct PlainProbe<'a> {
    #[serde(default)]
    credentials_supported: Present,
    #[serde(default)]
    signed_metadata: Present,
    #[serde(default)]
    batch_credential_endpoint: Present,
    #[serde(default)]
    credential_identifiers_supported: Present,
    #[serde(default, rename = "x-oid4vci-wallet-detected-version")]
    detected_version: Present,
    #[serde(default, borrow)]
    credential_configurations_supported: PlainConfigurations<'a>,
}

/// A member is there (any value, `null` included).
#[derive(Default)]
struct Present(bool);

impl<'de> serde::Deserialize<'de> for Present {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d)?;
        Ok(Present(true))
    }
}

/// Whether every credential configuration is plain 1.0 (no draft-13
/// `display`, `claims` or `vc+sd-jwt` at its top level).
struct PlainConfigurations<'a>(bool, std::marker::PhantomData<&'a ()>);

impl Default for PlainConfigurations<'_> {
    fn default() -> Self {
        Self(true, std::marker::PhantomData)
    }
}

#[derive(serde::Deserialize)]
struct PlainConfiguration<'a> {
    #[serde(default)]
    display: Present,
    #[serde(default)]
    claims: Present,
    #[serde(default, borrow)]
    format: Option<&'a str>,
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for PlainConfigurations<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = PlainConfigurations<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("credential configurations")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> std::result::Result<Self::Value, M::Error> {
                let mut plain = true;
                while let Some((_, c)) =
                    map.next_entry::<serde::de::IgnoredAny, PlainConfiguration<'de>>()?
                {
                    plain &= !(c.display.0 || c.claims.0 || c.format == Some("vc+sd-jwt"));
                }
                Ok(PlainConfigurations(plain, std::marker::PhantomData))
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

/// `request` with `Cache-Control: no-cache` when `refetch` (a cached copy
/// turned out stale: ask the server, ours and any cache on the way).
pub(super) fn no_cache_if(refetch: bool, request: HttpRequest) -> HttpRequest {
    if refetch {
        request.header("cache-control", "no-cache")
    } else {
        request
    }
}

fn parse_document<T: serde::de::DeserializeOwned>(
    doc: Document,
    url: &str,
    response: &HttpResponse,
) -> Result<T> {
    // Straight into the type when it parses (the same result as through a
    // `Value`); the slow way names what is wrong.
    if response.is_success() && is_json(response) {
        if let Ok(parsed) = serde_json::from_slice(&response.body) {
            return Ok(parsed);
        }
    }
    let object = parse_object(doc, url, response)?;
    super::parse_value(object).map_err(|e| Error::metadata(doc, url, e))
}

/// The JSON object of a metadata document's response (parsed once), or the
/// typed error: not 2xx, not JSON, not an object.
pub(super) fn parse_object(
    doc: Document,
    url: &str,
    response: &HttpResponse,
) -> Result<serde_json::Value> {
    if !response.is_success() {
        return Err(Error::metadata(
            doc,
            &crate::error::display_url(url),
            format!("HTTP {} ({})", response.status, describe_body(response)),
        ));
    }
    if !is_json(response) {
        let what = if response.media_type().as_deref() == Some("application/jwt") {
            "signed metadata (application/jwt) is not supported; expected application/json"
                .to_string()
        } else {
            format!("expected application/json, got {}", describe_body(response))
        };
        return Err(Error::metadata(doc, url, what));
    }
    match serde_json::from_slice::<serde_json::Value>(&response.body) {
        Ok(object @ serde_json::Value::Object(_)) => Ok(object),
        Ok(_) => Err(Error::metadata(doc, url, "not a JSON object")),
        Err(e) => Err(Error::metadata(
            doc,
            url,
            format!("invalid JSON: {}", sanitize(&e.to_string(), 80)),
        )),
    }
}

/// Checks issuer metadata: identifier equality and every endpoint's URL.
pub(crate) fn validate_issuer_metadata(
    metadata: &IssuerMetadata,
    issuer: &str,
    url: &str,
    config: &EngineConfig,
) -> Result<()> {
    let doc = Document::IssuerMetadata;
    if metadata.credential_issuer != issuer {
        return Err(Error::metadata(
            doc,
            url,
            format!(
                "field credential_issuer: {:?} does not equal the issuer identifier {:?}",
                sanitize(&metadata.credential_issuer, 200),
                issuer
            ),
        ));
    }
    check_endpoint(
        doc,
        url,
        "credential_endpoint",
        &metadata.credential_endpoint,
        config,
    )?;
    for (field, value) in [
        ("nonce_endpoint", &metadata.nonce_endpoint),
        (
            "deferred_credential_endpoint",
            &metadata.deferred_credential_endpoint,
        ),
        ("notification_endpoint", &metadata.notification_endpoint),
    ] {
        if let Some(v) = value {
            check_endpoint(doc, url, field, v, config)?;
        }
    }
    for server in metadata.authorization_servers.iter().flatten() {
        check_issuer_identifier(server, config)
            .map_err(|e| Error::metadata(doc, url, format!("field authorization_servers: {e}")))?;
    }
    if metadata
        .authorization_servers
        .as_ref()
        .is_some_and(Vec::is_empty)
    {
        return Err(Error::metadata(
            doc,
            url,
            "field authorization_servers: empty array",
        ));
    }
    if let Some(batch) = &metadata.batch_credential_issuance {
        if batch.batch_size < 2 {
            return Err(Error::metadata(
                doc,
                url,
                "field batch_credential_issuance.batch_size: must be at least 2",
            ));
        }
    }
    for (id, configuration) in &metadata.credential_configurations_supported {
        if let Some(types) = &configuration.proof_types_supported {
            if types.is_empty() {
                return Err(Error::metadata(
                    doc,
                    url,
                    format!("field credential_configurations_supported.{id}.proof_types_supported: empty object"),
                ));
            }
        }
    }
    Ok(())
}

/// The authorization server the offer's grant names (`authorization_server`
/// of the pre-authorized grant, else of the authorization code grant), if
/// any: the hint [`select_authorization_server`] takes.
pub fn offered_authorization_server(offer: &crate::types::CredentialOffer) -> Option<&str> {
    let grants = offer.grants.as_ref()?;
    grants
        .pre_authorized_code
        .as_ref()
        .and_then(|g| g.authorization_server.as_deref())
        .or(grants
            .authorization_code
            .as_ref()
            .and_then(|g| g.authorization_server.as_deref()))
}

/// The authorization server metadata request that may go out beside the
/// issuer metadata request: when the offer names its server, its metadata
/// needs nothing from the issuer's. Whether that server is one of the
/// issuer's is decided after both arrive, by [`select_authorization_server`]
/// (which returns the hint when it is); otherwise the answer is dropped.
/// `None` also for a hint that is no server identifier: the request in
/// order then says what is wrong with it, as without the prefetch.
pub fn as_metadata_prefetch(offer: &crate::types::CredentialOffer) -> Option<AsMetadataDiscovery> {
    AsMetadataDiscovery::new(offered_authorization_server(offer)?).ok()
}

/// The metadata of an offer, without IO. First [`Self::requests`]: the
/// issuer's metadata request and, when the offer names its authorization
/// server, that server's beside it ([`as_metadata_prefetch`]). Then, with
/// the issuer's metadata in, [`Self::with_issuer`]: an offer of draft 11/12
/// (credentials named by format and type) gets its configuration ids, every
/// offered id is checked to be the issuer's, and the authorization server
/// is chosen ([`select_authorization_server`]). A prefetched answer is for
/// that server: a hint the issuer does not list is refused there.
#[derive(Debug, Clone)]
pub struct OfferDiscovery {
    offer: crate::types::CredentialOffer,
}

impl OfferDiscovery {
    /// Discovery for a parsed (or fetched) offer.
    pub fn new(offer: crate::types::CredentialOffer) -> Self {
        Self { offer }
    }

    /// The offer.
    pub fn offer(&self) -> &crate::types::CredentialOffer {
        &self.offer
    }

    /// The issuer metadata request (checked at `now`, expecting the offered
    /// ids), and the authorization server metadata request that may go out
    /// at the same time.
    pub fn requests(
        &self,
        now: u64,
    ) -> Result<(IssuerMetadataDiscovery, Option<AsMetadataDiscovery>)> {
        let issuer = IssuerMetadataDiscovery::new(&self.offer.credential_issuer)?
            .at(now)
            .expecting(&self.offer.credential_configuration_ids);
        Ok((issuer, as_metadata_prefetch(&self.offer)))
    }

    /// The offer completed and checked against the issuer's metadata, and
    /// its authorization server chosen.
    pub fn with_issuer(
        mut self,
        issuer: IssuerMetadata,
        config: &EngineConfig,
    ) -> Result<OfferIssuerKnown> {
        if let Some(objects) = self.offer.legacy_credentials.take() {
            let ids = crate::types::draft13::resolve_legacy_offer_ids(
                &objects,
                &issuer.credential_configurations_supported,
            )
            .map_err(Error::InvalidOffer)?;
            self.offer.credential_configuration_ids.extend(ids);
            crate::flow::offer::validate_offer(&self.offer, config)?;
        }
        crate::flow::offer::validate_offer_against_metadata(&self.offer, &issuer)?;
        let authorization_server =
            select_authorization_server(&issuer, offered_authorization_server(&self.offer))?;
        Ok(OfferIssuerKnown {
            offer: self.offer,
            issuer,
            authorization_server,
        })
    }
}

/// An offer whose issuer metadata is in ([`OfferDiscovery::with_issuer`]):
/// its authorization server's metadata is what is left.
#[derive(Debug, Clone)]
pub struct OfferIssuerKnown {
    offer: crate::types::CredentialOffer,
    issuer: IssuerMetadata,
    authorization_server: String,
}

impl OfferIssuerKnown {
    /// The chosen authorization server's identifier.
    pub fn authorization_server(&self) -> &str {
        &self.authorization_server
    }

    /// Its metadata request (when it did not go out beside the issuer's).
    pub fn as_discovery(&self) -> Result<AsMetadataDiscovery> {
        AsMetadataDiscovery::new(&self.authorization_server)
    }

    /// The resolved offer, with the authorization server's metadata.
    pub fn finish(
        self,
        authorization_server: AuthorizationServerMetadata,
    ) -> Result<crate::flow::offer::ResolvedOffer> {
        crate::flow::offer::ResolvedOffer::new(
            self.offer,
            DiscoveredMetadata::new(self.issuer, authorization_server),
        )
    }
}

/// Picks the authorization server: the offer's hint (which must name one of the
/// issuer's), else the first listed, else the issuer itself.
pub fn select_authorization_server(
    metadata: &IssuerMetadata,
    hint: Option<&str>,
) -> Result<String> {
    let listed = metadata
        .authorization_servers
        .clone()
        .unwrap_or_else(|| vec![metadata.credential_issuer.clone()]);
    match hint {
        Some(h) => listed
            .iter()
            .find(|s| s.as_str() == h)
            .cloned()
            .ok_or_else(|| {
                Error::InvalidOffer(format!(
                    "authorization_server {:?} is not one of the issuer's authorization servers",
                    sanitize(h, 200)
                ))
            }),
        None => Ok(listed[0].clone()),
    }
}

/// Fetching and checking authorization server metadata: RFC 8414 first, the
/// OpenID Connect discovery URL only after a 404.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsMetadataDiscovery {
    issuer: String,
    url: String,
    fallback: bool,
}

impl AsMetadataDiscovery {
    /// Discovery for an authorization server identifier.
    pub fn new(issuer: &str) -> Result<Self> {
        Ok(Self {
            issuer: issuer.to_string(),
            url: as_metadata_url(issuer)?,
            fallback: false,
        })
    }
}

impl Exchange for AsMetadataDiscovery {
    type Output = AuthorizationServerMetadata;

    fn endpoint(&self) -> Endpoint {
        Endpoint::AuthorizationServerMetadata
    }

    fn prepare_request(&self, _config: &EngineConfig) -> Result<HttpRequest> {
        Ok(HttpRequest::get(&self.url).header("accept", "application/json"))
    }

    fn cacheable(&self) -> bool {
        true
    }

    fn handle_response(
        self,
        response: HttpResponse,
        config: &EngineConfig,
    ) -> Result<Progress<Self, AuthorizationServerMetadata>> {
        let doc = Document::AuthorizationServerMetadata;
        if response.status == 404 && !self.fallback {
            let url = openid_configuration_url(&self.issuer);
            return Ok(Progress::Again(Self {
                url,
                fallback: true,
                ..self
            }));
        }
        let metadata: AuthorizationServerMetadata = parse_document(doc, &self.url, &response)?;
        if metadata.issuer != self.issuer {
            return Err(Error::metadata(
                doc,
                &self.url,
                format!(
                    "field issuer: {:?} does not equal the authorization server identifier {:?}",
                    sanitize(&metadata.issuer, 200),
                    self.issuer
                ),
            ));
        }
        match &metadata.token_endpoint {
            None => {
                return Err(Error::metadata(
                    doc,
                    &self.url,
                    "field token_endpoint: missing",
                ))
            }
            Some(t) => check_endpoint(doc, &self.url, "token_endpoint", t, config)?,
        }
        for (field, value) in [
            ("authorization_endpoint", &metadata.authorization_endpoint),
            (
                "pushed_authorization_request_endpoint",
                &metadata.pushed_authorization_request_endpoint,
            ),
            ("challenge_endpoint", &metadata.challenge_endpoint),
        ] {
            if let Some(v) = value {
                check_endpoint(doc, &self.url, field, v, config)?;
            }
        }
        Ok(Progress::Done(metadata))
    }
}

/// What every step after discovery needs: both metadata documents. Each
/// step carries a copy; the documents are shared (`Arc`), so a copy costs
/// two reference counts, not the metadata. Saved as the documents
/// themselves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiscoveredMetadata {
    /// The credential issuer metadata (validated).
    pub issuer: std::sync::Arc<IssuerMetadata>,
    /// The chosen authorization server's metadata (validated).
    pub authorization_server: std::sync::Arc<AuthorizationServerMetadata>,
}

impl DiscoveredMetadata {
    /// Both documents, as discovery validated them.
    pub fn new(issuer: IssuerMetadata, authorization_server: AuthorizationServerMetadata) -> Self {
        Self {
            issuer: std::sync::Arc::new(issuer),
            authorization_server: std::sync::Arc::new(authorization_server),
        }
    }

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

/// Parses an offer URL, fetches the offer if by reference, and discovers and
/// checks the issuer's and the authorization server's metadata (the AS's
/// beside the issuer's when the offer names its server).
pub async fn resolve_offer<D: Driver>(driver: &D, offer_url: &str) -> Result<ResolvedOffer> {
    resolve_offer_observed(driver, offer_url, Observer::NONE).await
}

/// [`resolve_offer`], telling `observer` the offer and metadata stages.
pub(crate) async fn resolve_offer_observed<D: Driver>(
    driver: &D,
    offer_url: &str,
    observer: Observer<'_>,
) -> Result<ResolvedOffer> {
    observer.emit(|| ReceiveStage::ResolvingOffer);
    let offer = match parse_offer_url(offer_url, driver.config())? {
        OfferSource::ByValue(offer) => offer,
        OfferSource::ByReference(fetch) => run(driver, fetch).await?,
    };
    observer.emit(|| ReceiveStage::ReadingMetadata {
        credential_issuer: offer.credential_issuer.clone(),
    });
    let discovery = OfferDiscovery::new(offer);
    let (issuer, as_prefetch) = discovery.requests(driver.now())?;
    let prefetch = async {
        match as_prefetch {
            Some(fetch) => Some(run(driver, fetch).await),
            None => None,
        }
    };
    let (issuer, prefetched) = tokio::join!(run(driver, issuer), prefetch);
    let known = discovery.with_issuer(issuer?, driver.config())?;
    let authorization_server = match prefetched {
        Some(fetched) => fetched?,
        None => run(driver, known.as_discovery()?).await?,
    };
    known.finish(authorization_server)
}

/// Wallet-initiated issuance: discovers the issuer (and its first
/// authorization server) and starts the authorization code flow for
/// `configuration_ids`.
pub async fn start_issuance<D: Driver>(
    driver: &D,
    issuer_id: &str,
    configuration_ids: &[&str],
) -> Result<AuthorizationCodeStep> {
    start_issuance_observed(driver, issuer_id, configuration_ids, Observer::NONE).await
}

/// [`start_issuance`], telling `observer` the metadata stage.
pub(crate) async fn start_issuance_observed<D: Driver>(
    driver: &D,
    issuer_id: &str,
    configuration_ids: &[&str],
    observer: Observer<'_>,
) -> Result<AuthorizationCodeStep> {
    check_issuer_identifier(issuer_id, driver.config())
        .map_err(|e| Error::Config(format!("issuer identifier: {e}")))?;
    observer.emit(|| ReceiveStage::ReadingMetadata {
        credential_issuer: issuer_id.to_string(),
    });
    let fetch = IssuerMetadataDiscovery::new(issuer_id)?.at(driver.now());
    let issuer = run(driver, fetch).await?;
    let as_id = select_authorization_server(&issuer, None)?;
    let authorization_server = run(driver, AsMetadataDiscovery::new(&as_id)?).await?;
    let ids = configuration_ids.iter().map(|s| s.to_string()).collect();
    AuthorizationCodeStep::new(
        DiscoveredMetadata::new(issuer, authorization_server),
        ids,
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(body: &[u8]) -> HttpResponse {
        HttpResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_vec(),
        }
    }

    /// The normalising path: through a `Value`, draft 13 normalised.
    fn normalised(body: &[u8]) -> IssuerMetadata {
        let mut raw: serde_json::Value = serde_json::from_slice(body).unwrap();
        crate::types::draft13::normalize_issuer_metadata(&mut raw, false);
        serde_json::from_value(raw).unwrap()
    }

    #[test]
    fn plain_metadata_parsed_straight_is_what_the_normalising_path_makes_of_it() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/");
        let mut fast = Vec::new();
        for name in [
            "spec-1.0-issuer-metadata.json",
            "eudiw-issuer-metadata.json",
            "de-bdr-pid-issuer-metadata.json",
            "sunet-dc4eu-issuer-metadata.json",
            "no-eidas2sandkasse-issuer-metadata.json",
        ] {
            let body = std::fs::read(format!("{dir}{name}")).unwrap();
            if let Some(metadata) = plain_v1_metadata(&json(&body), false) {
                assert_eq!(metadata, normalised(&body), "{name}");
                fast.push(name);
            }
        }
        assert!(
            fast.contains(&"spec-1.0-issuer-metadata.json"),
            "the 1.0 example takes the fast path: {fast:?}"
        );
    }

    #[test]
    fn whatever_the_normalising_path_would_change_takes_the_slow_way() {
        let plain = serde_json::json!({
            "credential_issuer": "https://issuer.example",
            "credential_endpoint": "https://issuer.example/credential",
            "credential_configurations_supported": {
                "pid": {"format": "dc+sd-jwt", "vct": "urn:pid",
                        "credential_metadata": {"display": [{"name": "PID"}]}}
            }
        });
        let body = serde_json::to_vec(&plain).unwrap();
        assert_eq!(
            plain_v1_metadata(&json(&body), false),
            Some(normalised(&body))
        );
        assert_eq!(
            plain_v1_metadata(&json(&body), true),
            None,
            "the draft-13 URL"
        );
        let marked = |path: &[&str], value: serde_json::Value| {
            let mut doc = plain.clone();
            let mut at = &mut doc;
            for key in &path[..path.len() - 1] {
                at = &mut at[*key];
            }
            at[path[path.len() - 1]] = value;
            plain_v1_metadata(&json(&serde_json::to_vec(&doc).unwrap()), false)
        };
        let config = "credential_configurations_supported";
        for path in [
            &["credentials_supported"][..],
            &["signed_metadata"],
            &["batch_credential_endpoint"],
            &["credential_identifiers_supported"],
            &["x-oid4vci-wallet-detected-version"],
            &[config, "pid", "display"],
            &[config, "pid", "claims"],
        ] {
            assert_eq!(
                marked(path, serde_json::Value::Null),
                None,
                "{path:?} (even null)"
            );
        }
        assert_eq!(marked(&[config, "pid", "format"], "vc+sd-jwt".into()), None);
        assert_eq!(
            marked(&[config, "pid"], serde_json::json!(7)),
            None,
            "not an object"
        );
        let not_json = HttpResponse {
            headers: vec![("content-type".into(), "text/plain".into())],
            ..json(&body)
        };
        assert_eq!(plain_v1_metadata(&not_json, false), None);
    }

    #[test]
    fn an_https_document_cannot_name_http_endpoints_even_when_http_is_allowed() {
        let metadata: IssuerMetadata = serde_json::from_value(serde_json::json!({
            "credential_issuer": "https://i.ex",
            "credential_endpoint": "http://127.0.0.1:9/credential",
            "credential_configurations_supported": {}
        }))
        .unwrap();
        let config = EngineConfig {
            allow_http: true,
            ..EngineConfig::default()
        };
        let err = validate_issuer_metadata(
            &metadata,
            "https://i.ex",
            "https://i.ex/.well-known/openid-credential-issuer",
            &config,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains(
                "credential_endpoint: expected an https URL, got http://127.0.0.1:9/credential"
            ),
            "{err}"
        );
    }

    #[test]
    fn well_known_urls() {
        assert_eq!(
            issuer_metadata_url("https://i.ex/tenant").unwrap(),
            "https://i.ex/.well-known/openid-credential-issuer/tenant"
        );
        assert_eq!(
            issuer_metadata_url("https://i.ex/tenant/").unwrap(),
            "https://i.ex/.well-known/openid-credential-issuer/tenant/"
        );
        assert_eq!(
            issuer_metadata_url("https://i.ex").unwrap(),
            "https://i.ex/.well-known/openid-credential-issuer"
        );
        assert_eq!(
            issuer_metadata_url("http://127.0.0.1:8080/a/b").unwrap(),
            "http://127.0.0.1:8080/.well-known/openid-credential-issuer/a/b"
        );
        assert_eq!(
            issuer_metadata_appended_url("https://i.ex/tenant"),
            "https://i.ex/tenant/.well-known/openid-credential-issuer"
        );
        assert_eq!(
            as_metadata_url("https://as.ex/tenant/").unwrap(),
            "https://as.ex/.well-known/oauth-authorization-server/tenant"
        );
        assert_eq!(
            as_metadata_url("https://as.ex").unwrap(),
            "https://as.ex/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            openid_configuration_url("https://as.ex/t"),
            "https://as.ex/t/.well-known/openid-configuration"
        );
    }

    #[test]
    fn draft11_metadata_at_the_appended_url_is_converted() {
        let cfg = EngineConfig::default();
        let doc = |vct: serde_json::Value| {
            serde_json::json!({
                "credential_issuer": "https://i.ex/t",
                "credential_endpoint": "https://i.ex/t/credential",
                "credentials_supported": [{"format": "vc+sd-jwt", "id": "pid", "vct": vct,
                    "cryptographic_binding_methods_supported": ["jwk"],
                    "cryptographic_suites_supported": ["ES256"],
                    "proof_types_supported": ["jwt"]}]
            })
        };
        let step = || {
            let Progress::Again(appended) = IssuerMetadataDiscovery::new("https://i.ex/t")
                .unwrap()
                .handle_response(HttpResponse::json(404, &serde_json::json!({})), &cfg)
                .unwrap()
            else {
                panic!("expected the appended URL")
            };
            appended
        };
        let Progress::Done(metadata) = step()
            .handle_response(
                HttpResponse::json(200, &doc(serde_json::json!("urn:pid"))),
                &cfg,
            )
            .unwrap()
        else {
            panic!("one answer is enough")
        };
        assert_eq!(
            metadata.detected_version,
            crate::types::SpecVersion::Draft11
        );
        let pid = &metadata.credential_configurations_supported["pid"];
        assert_eq!(pid.format, "vc+sd-jwt");
        assert_eq!(
            pid.proof_types_supported.as_ref().unwrap()["jwt"].proof_signing_alg_values_supported,
            ["ES256"]
        );
        // A draft-11 document that cannot be converted names its field.
        let err = step()
            .handle_response(HttpResponse::json(200, &doc(serde_json::json!(7))), &cfg)
            .unwrap_err();
        assert!(
            matches!(&err, Error::Metadata { problem, .. }
                if problem.contains("credentials_supported") && problem.contains("vct")),
            "{err}"
        );
    }

    #[test]
    fn falls_back_only_on_404() {
        let cfg = EngineConfig::default();
        let step = IssuerMetadataDiscovery::new("https://i.ex/t").unwrap();
        let next = step
            .clone()
            .handle_response(HttpResponse::json(404, &serde_json::json!({})), &cfg);
        match next.unwrap() {
            Progress::Again(s) => assert_eq!(
                s.url(),
                "https://i.ex/t/.well-known/openid-credential-issuer"
            ),
            Progress::Done(_) => panic!("expected a fallback"),
        }
        let err = step
            .handle_response(HttpResponse::json(500, &serde_json::json!({})), &cfg)
            .unwrap_err();
        assert!(matches!(err, Error::Metadata { .. }), "{err}");
    }
}
