//! `oid4vci inspect`: resolves an offer (or an issuer) and its metadata and
//! shows what the issuance would take, without calling PAR, the
//! authorization endpoint or the token endpoint. Whether this wallet could
//! complete it is decided by the checks the wallet itself runs before it
//! spends a pre-authorized code or a user's login
//! (`DiscoveredMetadata::can_issue` / `can_issue_any`, and the grant the wallet
//! would pick), plus the algorithm of the CLI's own key.

use crate::text::{escape, json_document, quoted};
use crate::{wallet_builder, WalletArgs, EXIT_CANNOT_COMPLETE, MAX_NAME_CHARS};
use oid4vci_wallet::flow::DiscoveredMetadata;
use oid4vci_wallet::flow::PlannedEncryption;
use oid4vci_wallet::flow::{parse_offer_url, OfferSource};
use oid4vci_wallet::flow::{
    select_authorization_server, AsMetadataDiscovery, IssuerMetadataDiscovery,
};
use oid4vci_wallet::flow::{Capabilities, EngineConfig, Exchange, Progress};
use oid4vci_wallet::types::{
    AuthorizationServerMetadata, CredentialConfiguration, IssuerMetadata,
    ResponseEncryptionMetadata, SpecVersion,
};
use oid4vci_wallet::Endpoint;
use oid4vci_wallet::{AuthorizationCodeStep, Grant, OsRandom, Signer, SoftwareSigner, Wallet};
use oid4vci_wallet::{HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::ExitCode;

pub const LONG_ABOUT: &str = "\
Show what an offer (or, with --issuer, an issuer) asks for, and whether this wallet could \
complete the issuance, without spending anything: the offer (fetched when it is by reference), \
the credential issuer metadata and the authorization server metadata are read; PAR, the \
authorization endpoint and the token endpoint are not called. With --qr FILE the offer URL is read from a PNG or JPEG image of its QR code (a screenshot or photo of the issuer's page).

Shown: the credential issuer and its display name; each offered (with --issuer: each supported) \
configuration with format, vct or doctype, proof types and algorithms, key attestation \
requirements, binding methods; encryption; the grants (tx_code rules, issuer_state); the \
authorization servers and what they support; the nonce, deferred and notification endpoints.

The verdict comes from the checks the wallet runs before it spends a pre-authorized code or a \
user's login (formats, proof types and algorithms, key attestations, encryption, a usable grant), \
with this CLI's capabilities: a P-256 (ES256) key, no key attestation provider, no wallet \
attestation.

Exit codes: 0 this wallet could complete the issuance of every checked configuration (the \
offered ones, every supported one with --issuer, or those named by --credential); 3 it could not \
(the reasons are printed, on stderr too); 1 the offer or the metadata could not be resolved; 2 \
usage error.";

#[derive(clap::Args)]
pub struct InspectArgs {
    /// The credential offer URL (by value, or by reference: a credential_offer_uri is fetched,
    /// and an issuer may serve it only once).
    #[arg(
        value_name = "OFFER_URL",
        required_unless_present_any = ["issuer", "qr"],
        conflicts_with = "issuer"
    )]
    offer_url: Option<String>,
    /// Read the offer URL from a PNG or JPEG image of its QR code (a screenshot or photo of the
    /// issuer's page) instead of OFFER_URL.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["offer_url", "issuer"])]
    qr: Option<std::path::PathBuf>,
    /// Inspect a credential issuer (wallet-initiated issuance) instead of an offer: lists every
    /// supported configuration.
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    /// Check only these configuration ids (default: every offered one, or with --issuer every
    /// supported one).
    #[arg(long = "credential", value_name = "CONFIG_ID")]
    credentials: Vec<String>,
    /// Print one JSON object on stdout instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    wallet: WalletArgs,
}

/// What the CLI can do beyond the library's baseline: nothing (no key
/// attestation provider). The same value the wallet uses when it checks
/// before spending.
fn cli_capabilities() -> Capabilities {
    Capabilities::default()
}

#[derive(Serialize)]
struct Report {
    /// `offer` or `issuer`.
    source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    offer: Option<OfferInfo>,
    credential_issuer: String,
    display_name: Option<String>,
    spec_version: SpecVersion,
    endpoints: Endpoints,
    batch_size: Option<u32>,
    encryption: EncryptionInfo,
    credential_configurations: Vec<ConfigurationInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grants: Option<GrantsInfo>,
    /// The grant the wallet would use: `pre-authorized_code` or
    /// `authorization_code`.
    grant_used: Option<&'static str>,
    authorization_servers: Vec<ServerInfo>,
    can_complete: bool,
    problems: Vec<String>,
    warnings: Vec<String>,
}

#[derive(Serialize)]
struct OfferInfo {
    by_reference: bool,
    /// Without query and fragment.
    #[serde(skip_serializing_if = "Option::is_none")]
    credential_offer_uri: Option<String>,
    credential_configuration_ids: Vec<String>,
}

#[derive(Serialize)]
struct Endpoints {
    credential: String,
    nonce: Option<String>,
    deferred: Option<String>,
    notification: Option<String>,
}

#[derive(Serialize)]
struct EncryptionInfo {
    /// `credential_response_encryption` as published.
    response: Option<ResponseEncryptionMetadata>,
    request: Option<RequestEncryptionInfo>,
    required: bool,
    /// Whether this wallet will encrypt its requests and ask for encrypted
    /// responses.
    used: bool,
    problem: Option<String>,
}

#[derive(Serialize)]
struct RequestEncryptionInfo {
    enc_values_supported: Vec<String>,
    zip_values_supported: Option<Vec<String>>,
    encryption_required: bool,
    /// `alg` (or `kty`/`crv`) of each key in `jwks`.
    keys: Vec<String>,
}

#[derive(Serialize)]
struct ConfigurationInfo {
    id: String,
    name: Option<String>,
    format: String,
    vct: Option<String>,
    doctype: Option<String>,
    scope: Option<String>,
    cryptographic_binding_methods_supported: Option<Vec<String>>,
    credential_signing_alg_values_supported: Option<Vec<Value>>,
    /// Absent: the credential is not key-bound and no proofs are sent.
    proof_types_supported: Option<BTreeMap<String, ProofTypeInfo>>,
    can_issue: bool,
    problem: Option<String>,
}

#[derive(Serialize)]
struct ProofTypeInfo {
    proof_signing_alg_values_supported: Vec<String>,
    /// `key_attestations_required` as published (`{}`: any attestation).
    key_attestations_required: Option<Value>,
    /// Its `key_storage` levels, when listed.
    key_storage: Option<Value>,
    /// Its `user_authentication` levels, when listed.
    user_authentication: Option<Value>,
}

#[derive(Serialize)]
struct GrantsInfo {
    pre_authorized_code: Option<PreAuthorizedInfo>,
    authorization_code: Option<AuthorizationCodeInfo>,
    /// The offer has no grants: the wallet chooses (the authorization code
    /// flow, when the server has an authorization endpoint).
    none_given: bool,
}

#[derive(Serialize)]
struct PreAuthorizedInfo {
    /// `null`: no transaction code.
    tx_code: Option<TxCodeInfo>,
    authorization_server: Option<String>,
}

#[derive(Serialize)]
struct TxCodeInfo {
    /// With the default applied (`numeric`).
    input_mode: String,
    /// Whether the offer named the input mode.
    input_mode_given: bool,
    length: Option<u32>,
    description: Option<String>,
}

#[derive(Serialize)]
struct AuthorizationCodeInfo {
    /// Whether the offer carries an `issuer_state` (sent with the
    /// authorization request; its value is not shown).
    issuer_state: bool,
    authorization_server: Option<String>,
}

#[derive(Serialize)]
struct ServerInfo {
    issuer: String,
    /// The one this wallet would use.
    used: bool,
    #[serde(flatten)]
    metadata: Option<AuthorizationServerMetadata>,
    /// From the raw document (the typed metadata does not keep it).
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
    error: Option<String>,
}

pub async fn run(args: &InspectArgs) -> oid4vci_wallet::Result<ExitCode> {
    let from_qr = match &args.qr {
        Some(path) => {
            let url = crate::qr::offer_url_from_qr(path)?;
            eprintln!("read the offer URL from the QR code in {}", path.display());
            Some(url)
        }
        None => None,
    };
    let wallet = wallet_builder(&args.wallet)?.build()?;
    let report = match (
        args.offer_url.as_deref().or(from_qr.as_deref()),
        &args.issuer,
    ) {
        (Some(url), _) => inspect_offer(&wallet, url, args).await?,
        (None, Some(issuer)) => inspect_issuer(&wallet, issuer, args).await?,
        (None, None) => {
            return Err(oid4vci_wallet::Error::Config(
                "give an offer URL, --qr FILE or --issuer".into(),
            ))
        }
    };
    if args.json {
        let value = serde_json::to_value(&report)
            .map_err(|e| oid4vci_wallet::Error::InvalidState(format!("report: {e}")))?;
        println!("{}", json_document(&value));
    } else {
        print_text(&report);
    }
    for warning in &report.warnings {
        eprintln!("warning: {}", escape(warning));
    }
    if report.can_complete {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("this wallet could not complete the issuance:");
    for problem in &report.problems {
        eprintln!("  - {}", escape(problem));
    }
    Ok(ExitCode::from(EXIT_CANNOT_COMPLETE))
}

async fn inspect_offer(
    wallet: &Wallet,
    offer_url: &str,
    args: &InspectArgs,
) -> oid4vci_wallet::Result<Report> {
    let config = EngineConfig {
        allow_http: args.wallet.dangerous_allow_http,
        ..EngineConfig::default()
    };
    // Parsing has no side effect; it tells whether resolving fetches.
    let by_reference = match parse_offer_url(offer_url, &config)? {
        OfferSource::ByReference(fetch) => Some(without_query(&fetch.uri)),
        OfferSource::ByValue(_) => None,
    };
    let resolved = wallet.resolve_offer(offer_url).await;
    if let Some(uri) = &by_reference {
        eprintln!(
            "note: inspect fetched the offer from its credential_offer_uri ({}); an issuer may \
             serve an offer URI only once, so receiving may need a fresh offer",
            escape(uri)
        );
    }
    let resolved = resolved?;
    let context = resolved.context().clone();
    let offered = resolved.offer().credential_configuration_ids.clone();
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let checked = selected(&args.credentials, &offered, "offered", &mut problems);

    // The wallet's own check before it spends the code or the login.
    let pre_spend = context.can_issue_any(&offered, cli_capabilities());
    let configurations = configurations(&context, &checked, wallet.locales(), &mut problems);
    match &pre_spend {
        // Its reason is the first configuration's, listed already.
        Err(_) => problems.push(
            "the wallet refuses this offer before spending its grant: none of the offered \
             configurations can be issued"
                .into(),
        ),
        Ok(()) if configurations.iter().any(|c| !c.can_issue) => warnings.push(
            "the wallet's check before spending passes (an offered configuration can be \
             issued), so `receive` would spend the grant and then fail on those it cannot \
             issue: name the ones it can with --credential"
                .into(),
        ),
        Ok(()) => {}
    }

    let grants = resolved.offer().grants.clone().unwrap_or_default();
    let none_given = grants.pre_authorized_code.is_none() && grants.authorization_code.is_none();
    let grants_info = GrantsInfo {
        pre_authorized_code: grants
            .pre_authorized_code
            .as_ref()
            .map(|g| PreAuthorizedInfo {
                tx_code: g.tx_code.as_ref().map(|t| TxCodeInfo {
                    input_mode: format!("{:?}", t.mode()).to_lowercase(),
                    input_mode_given: t.input_mode.is_some(),
                    length: t.length,
                    description: t.description.clone(),
                }),
                authorization_server: g.authorization_server.clone(),
            }),
        authorization_code: grants
            .authorization_code
            .as_ref()
            .map(|g| AuthorizationCodeInfo {
                issuer_state: g.issuer_state.is_some(),
                authorization_server: g.authorization_server.clone(),
            }),
        none_given,
    };
    let grant_used = match resolved.grant() {
        Ok(Grant::PreAuthorized(step)) => {
            if step.tx_code_spec().is_some() {
                warnings.push(
                    "the offer needs a transaction code: receive asks for it on the terminal, \
                     or pass --tx-code"
                        .into(),
                );
            }
            Some("pre-authorized_code")
        }
        Ok(Grant::AuthorizationCode(_)) => Some("authorization_code"),
        Ok(_) => None,
        Err(e) => {
            problems.push(format!("no grant this wallet can use: {e}"));
            None
        }
    };
    let servers = servers(wallet, &context, &mut warnings).await;
    Ok(finish(Report {
        source: "offer",
        offer: Some(OfferInfo {
            by_reference: by_reference.is_some(),
            credential_offer_uri: by_reference,
            credential_configuration_ids: offered,
        }),
        grants: Some(grants_info),
        grant_used,
        authorization_servers: servers,
        problems,
        warnings,
        ..issuer_part(&context, configurations, wallet.locales())
    }))
}

async fn inspect_issuer(
    wallet: &Wallet,
    issuer_id: &str,
    args: &InspectArgs,
) -> oid4vci_wallet::Result<Report> {
    let issuer = wallet.run(IssuerMetadataDiscovery::new(issuer_id)?).await?;
    let as_id = select_authorization_server(&issuer, None)?;
    let authorization_server = wallet.run(AsMetadataDiscovery::new(&as_id)?).await?;
    let context = DiscoveredMetadata::new(issuer, authorization_server);
    let supported: Vec<String> = context
        .issuer
        .credential_configurations_supported
        .keys()
        .cloned()
        .collect();
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let checked = selected(&args.credentials, &supported, "supported", &mut problems);
    let configurations = configurations(&context, &checked, wallet.locales(), &mut problems);
    // What `request --issuer` checks: the authorization code step needs an
    // authorization endpoint, and before the authorization request the
    // wallet runs the same check before spending as for offers.
    let grant_used = match AuthorizationCodeStep::new(context.clone(), checked.clone(), None) {
        Ok(_) => Some("authorization_code"),
        Err(e) => {
            problems.push(format!("wallet-initiated issuance cannot start: {e}"));
            None
        }
    };
    if !checked.is_empty() && context.can_issue_any(&checked, cli_capabilities()).is_err() {
        problems.push(
            "the wallet refuses before the login: none of the checked configurations can be \
             issued"
                .into(),
        );
    }
    let servers = servers(wallet, &context, &mut warnings).await;
    Ok(finish(Report {
        source: "issuer",
        offer: None,
        grants: None,
        grant_used,
        authorization_servers: servers,
        problems,
        warnings,
        ..issuer_part(&context, configurations, wallet.locales())
    }))
}

/// The configurations to check: those named (each must be in `available`),
/// else all of `available`.
fn selected(
    named: &[String],
    available: &[String],
    what: &str,
    problems: &mut Vec<String>,
) -> Vec<String> {
    if named.is_empty() {
        return available.to_vec();
    }
    let mut out = Vec::new();
    for id in named {
        if available.contains(id) {
            out.push(id.clone());
        } else {
            problems.push(format!(
                "{}: not {what} (--credential)",
                quoted(id, MAX_NAME_CHARS)
            ));
        }
    }
    out
}

/// Each configuration with the wallet's check, and the CLI key's algorithm.
fn configurations(
    context: &DiscoveredMetadata,
    ids: &[String],
    locales: &[String],
    problems: &mut Vec<String>,
) -> Vec<ConfigurationInfo> {
    let signer_alg = SoftwareSigner::generate().algorithm().as_str();
    let mut out = Vec::new();
    for id in ids {
        let Ok(configuration) = context.configuration(id) else {
            continue;
        };
        let problem = match context.can_issue(id, cli_capabilities()) {
            Err(e) => Some(e.to_string()),
            Ok(()) => cli_key_problem(id, configuration, signer_alg),
        };
        if let Some(p) = &problem {
            problems.push(p.clone());
        }
        out.push(ConfigurationInfo {
            id: id.clone(),
            name: configuration
                .display_for(locales)
                .and_then(|d| d.name.clone()),
            format: configuration.format.clone(),
            vct: configuration.vct.clone(),
            doctype: configuration.doctype.clone(),
            scope: configuration.scope.clone(),
            cryptographic_binding_methods_supported: configuration
                .cryptographic_binding_methods_supported
                .clone(),
            credential_signing_alg_values_supported: configuration
                .credential_signing_alg_values_supported
                .clone(),
            proof_types_supported: configuration.proof_types_supported.as_ref().map(|types| {
                types
                    .iter()
                    .map(|(name, t)| {
                        let member = |m: &str| {
                            t.key_attestations_required
                                .as_ref()
                                .and_then(|k| k.get(m))
                                .cloned()
                        };
                        (
                            name.clone(),
                            ProofTypeInfo {
                                proof_signing_alg_values_supported: t
                                    .proof_signing_alg_values_supported
                                    .clone(),
                                key_attestations_required: t.key_attestations_required.clone(),
                                key_storage: member("key_storage"),
                                user_authentication: member("user_authentication"),
                            },
                        )
                    })
                    .collect()
            }),
            can_issue: problem.is_none(),
            problem,
        });
    }
    out
}

/// The library accepts any algorithm some signer can have; the CLI signs
/// with one P-256 key.
fn cli_key_problem(
    id: &str,
    configuration: &CredentialConfiguration,
    signer_alg: &str,
) -> Option<String> {
    let jwt = configuration.proof_types_supported.as_ref()?.get("jwt")?;
    if jwt
        .proof_signing_alg_values_supported
        .iter()
        .any(|a| a == signer_alg)
    {
        return None;
    }
    Some(format!(
        "{id}: the issuer accepts proof algorithms {:?}; this CLI's key signs {signer_alg}",
        jwt.proof_signing_alg_values_supported
    ))
}

/// The issuer's part of the report.
fn issuer_part(
    context: &DiscoveredMetadata,
    configurations: Vec<ConfigurationInfo>,
    locales: &[String],
) -> Report {
    let issuer: &IssuerMetadata = &context.issuer;
    let response = issuer.credential_response_encryption.clone();
    let request = issuer
        .credential_request_encryption
        .as_ref()
        .map(|r| RequestEncryptionInfo {
            enc_values_supported: r.enc_values_supported.clone(),
            zip_values_supported: r.zip_values_supported.clone(),
            encryption_required: r.encryption_required,
            keys: r
                .jwks
                .keys
                .iter()
                .map(|k| {
                    let m = |n: &str| k.get(n).and_then(Value::as_str).unwrap_or("?");
                    match k.get("alg").and_then(Value::as_str) {
                        Some(alg) => format!("{alg} ({} {})", m("kty"), m("crv")),
                        None => format!("{} {}", m("kty"), m("crv")),
                    }
                })
                .collect(),
        });
    let required = response.as_ref().is_some_and(|r| r.encryption_required)
        || request.as_ref().is_some_and(|r| r.encryption_required);
    let (used, problem) = match PlannedEncryption::for_issuer(issuer, &OsRandom) {
        Ok(plan) => (plan.is_some(), None),
        Err(e) => (false, Some(e.to_string())),
    };
    Report {
        source: "",
        offer: None,
        credential_issuer: issuer.credential_issuer.clone(),
        display_name: issuer.display_for(locales).and_then(|d| d.name.clone()),
        spec_version: issuer.detected_version,
        endpoints: Endpoints {
            credential: issuer.credential_endpoint.clone(),
            nonce: issuer.nonce_endpoint.clone(),
            deferred: issuer.deferred_credential_endpoint.clone(),
            notification: issuer.notification_endpoint.clone(),
        },
        batch_size: issuer
            .batch_credential_issuance
            .as_ref()
            .map(|b| b.batch_size),
        encryption: EncryptionInfo {
            response,
            request,
            required,
            used,
            problem,
        },
        credential_configurations: configurations,
        grants: None,
        grant_used: None,
        authorization_servers: Vec::new(),
        can_complete: false,
        problems: Vec::new(),
        warnings: Vec::new(),
    }
}

fn finish(mut report: Report) -> Report {
    report.can_complete = report.problems.is_empty();
    report
}

/// Every authorization server the issuer lists (or the issuer itself),
/// marking the one the wallet uses.
async fn servers(
    wallet: &Wallet,
    context: &DiscoveredMetadata,
    warnings: &mut Vec<String>,
) -> Vec<ServerInfo> {
    let used = &context.authorization_server;
    let listed = context
        .issuer
        .authorization_servers
        .clone()
        .unwrap_or_else(|| vec![context.issuer.credential_issuer.clone()]);
    let mut out = Vec::new();
    for id in listed {
        let is_used = id == used.issuer;
        let fetched = match AsMetadataDiscovery::new(&id) {
            Ok(discovery) => wallet.run(WithRaw::new(discovery)).await,
            Err(e) => Err(e),
        };
        let (metadata, raw, error) = match fetched {
            // The wallet's own copy for the server it uses.
            _ if is_used => (
                Some((**used).clone()),
                fetched.ok().and_then(|(_, raw)| raw),
                None,
            ),
            Ok((metadata, raw)) => (Some(metadata), raw, None),
            Err(e) => (None, None, Some(e.to_string())),
        };
        if let Some(m) = metadata.as_ref().filter(|_| is_used) {
            if let Some(algs) = &m.dpop_signing_alg_values_supported {
                if !algs.iter().any(|a| a == "ES256") {
                    warnings.push(format!(
                        "the authorization server lists DPoP algorithms {algs:?} without ES256: \
                         this wallet sends bearer requests, which it may refuse"
                    ));
                }
            }
        }
        let methods: Option<Vec<String>> = raw
            .as_ref()
            .and_then(|r| r.get("token_endpoint_auth_methods_supported"))
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        if is_used
            && methods
                .as_ref()
                .is_some_and(|m| m.iter().any(|m| m == "attest_jwt_client_auth"))
        {
            warnings.push(
                "the authorization server supports wallet attestation (attest_jwt_client_auth); \
                 this CLI has none, which works only if the server also accepts other clients"
                    .into(),
            );
        }
        out.push(ServerInfo {
            issuer: id,
            used: is_used,
            metadata,
            token_endpoint_auth_methods_supported: methods,
            error,
        });
    }
    out
}

/// An exchange that also hands back the JSON document it read (for fields
/// the typed metadata does not keep).
struct WithRaw<E> {
    inner: E,
}

impl<E> WithRaw<E> {
    fn new(inner: E) -> Self {
        Self { inner }
    }
}

impl<E: Exchange> Exchange for WithRaw<E> {
    type Output = (E::Output, Option<Value>);

    fn endpoint(&self) -> Endpoint {
        self.inner.endpoint()
    }

    fn prepare_request(&self, config: &EngineConfig) -> oid4vci_wallet::Result<HttpRequest> {
        self.inner.prepare_request(config)
    }

    fn handle_response(
        self,
        response: HttpResponse,
        config: &EngineConfig,
    ) -> oid4vci_wallet::Result<Progress<Self, Self::Output>> {
        let raw = serde_json::from_slice::<Value>(&response.body).ok();
        Ok(match self.inner.handle_response(response, config)? {
            Progress::Again(inner) => Progress::Again(Self { inner }),
            Progress::Done(out) => Progress::Done((out, raw)),
        })
    }
}

/// A URL without query and fragment (an offer URI's query may be a secret).
fn without_query(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => url.split(['?', '#']).next().unwrap_or_default().to_string(),
    }
}

/// An issuer-given identifier or URL, escaped; `none` when absent.
fn or_none(value: Option<&str>) -> String {
    value.map_or_else(|| "none".to_string(), |v| escape(v).into_owned())
}

/// Issuer-given values, escaped, comma separated; `none listed` when absent.
fn list<T: AsRef<str>>(values: Option<&[T]>) -> String {
    match values {
        Some(v) if !v.is_empty() => escape(
            &v.iter()
                .map(|s| s.as_ref().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        )
        .into_owned(),
        Some(_) => "none".into(),
        None => "none listed".into(),
    }
}

fn yes_no(value: Option<bool>) -> &'static str {
    match value {
        Some(true) => "yes",
        Some(false) => "no",
        None => "not stated",
    }
}

/// Every line starts with the CLI's own words; what the issuer wrote
/// follows a label, escaped, and free text is quoted.
fn print_text(report: &Report) {
    println!("Credential issuer: {}", escape(&report.credential_issuer));
    if let Some(name) = &report.display_name {
        println!("  display name: {}", quoted(name, MAX_NAME_CHARS));
    }
    let version = match report.spec_version {
        SpecVersion::Draft13 => "draft 13",
        SpecVersion::Draft12 => "draft 12",
        SpecVersion::Draft11 => "draft 11",
        _ => "1.0",
    };
    println!("  OID4VCI version (from the metadata): {version}");
    let e = &report.endpoints;
    println!("  credential endpoint: {}", escape(&e.credential));
    println!("  nonce endpoint: {}", or_none(e.nonce.as_deref()));
    println!(
        "  deferred credential endpoint: {}",
        or_none(e.deferred.as_deref())
    );
    println!(
        "  notification endpoint: {}",
        or_none(e.notification.as_deref())
    );
    match report.batch_size {
        Some(n) => println!("  batch issuance: up to {n} credentials per request"),
        None => println!("  batch issuance: not offered"),
    }
    let enc = &report.encryption;
    match (&enc.response, &enc.request) {
        (None, None) => println!("  encryption: not offered"),
        (response, request) => {
            println!(
                "  encryption: offered, {}",
                if enc.required { "REQUIRED" } else { "optional" }
            );
            if let Some(r) = response {
                println!(
                    "    response: alg {}; enc {}; zip {}{}",
                    list(Some(&r.alg_values_supported)),
                    list(Some(&r.enc_values_supported)),
                    list(r.zip_values_supported.as_deref()),
                    if r.encryption_required {
                        "; required"
                    } else {
                        ""
                    }
                );
            }
            if let Some(r) = request {
                println!(
                    "    request: enc {}; zip {}; keys {}{}",
                    list(Some(&r.enc_values_supported)),
                    list(r.zip_values_supported.as_deref()),
                    list(Some(&r.keys)),
                    if r.encryption_required {
                        "; required"
                    } else {
                        ""
                    }
                );
            }
            match &enc.problem {
                Some(p) => println!("    this wallet: cannot encrypt ({})", escape(p)),
                None if enc.used => println!("    this wallet: encrypts requests and responses"),
                None => println!("    this wallet: does not encrypt (no usable key or algorithm)"),
            }
        }
    }

    if let Some(offer) = &report.offer {
        match &offer.credential_offer_uri {
            Some(uri) => println!("\nOffer: by reference, fetched from {}", escape(uri)),
            None => println!("\nOffer: by value"),
        }
        println!(
            "  credential_configuration_ids: {}",
            list(Some(&offer.credential_configuration_ids))
        );
    }

    let what = if report.source == "offer" {
        "checked"
    } else {
        "supported"
    };
    println!(
        "\nCredential configurations ({what}: {}):",
        report.credential_configurations.len()
    );
    for c in &report.credential_configurations {
        match &c.name {
            Some(name) => println!(
                "  configuration {}: {}",
                quoted(&c.id, MAX_NAME_CHARS),
                quoted(name, MAX_NAME_CHARS)
            ),
            None => println!("  configuration {}", quoted(&c.id, MAX_NAME_CHARS)),
        }
        println!("    format: {}", escape(&c.format));
        if let Some(vct) = &c.vct {
            println!("    vct: {}", escape(vct));
        }
        if let Some(doctype) = &c.doctype {
            println!("    doctype: {}", escape(doctype));
        }
        println!("    scope: {}", or_none(c.scope.as_deref()));
        println!(
            "    binding methods: {}",
            match &c.cryptographic_binding_methods_supported {
                Some(m) => list(Some(m)),
                None => "none (not key-bound)".into(),
            }
        );
        if let Some(algs) = &c.credential_signing_alg_values_supported {
            let algs: Vec<String> = algs
                .iter()
                .map(|a| a.as_str().map_or_else(|| a.to_string(), str::to_string))
                .collect();
            println!("    credential signing algorithms: {}", list(Some(&algs)));
        }
        match &c.proof_types_supported {
            None => println!("    proof types: none (no proofs are sent)"),
            Some(types) => {
                for (name, t) in types {
                    println!(
                        "    proof type {}: algorithms {}",
                        escape(name),
                        list(Some(&t.proof_signing_alg_values_supported))
                    );
                    let Some(required) = &t.key_attestations_required else {
                        println!("      key attestation: not required");
                        continue;
                    };
                    if t.key_storage.is_none() && t.user_authentication.is_none() {
                        println!(
                            "      key attestation: REQUIRED (any level) {}",
                            escape(&required.to_string())
                        );
                        continue;
                    }
                    println!("      key attestation: REQUIRED");
                    for (label, levels) in [
                        ("key_storage", &t.key_storage),
                        ("user_authentication", &t.user_authentication),
                    ] {
                        if let Some(levels) = levels {
                            println!("        {label}: {}", escape(&levels.to_string()));
                        }
                    }
                }
            }
        }
        match &c.problem {
            None => println!("    this wallet: can issue it"),
            Some(p) => println!("    this wallet: CANNOT issue it: {}", escape(p)),
        }
    }

    if let Some(grants) = &report.grants {
        println!("\nGrants:");
        if grants.none_given {
            println!("  none in the offer: the wallet chooses");
        }
        if let Some(pre) = &grants.pre_authorized_code {
            println!("  pre-authorized code: offered");
            match &pre.tx_code {
                None => println!("    tx_code: none"),
                Some(t) => {
                    println!(
                        "    tx_code: required; input_mode {}{}; length {}",
                        escape(&t.input_mode),
                        if t.input_mode_given { "" } else { " (default)" },
                        t.length
                            .map_or_else(|| "not given".to_string(), |n| n.to_string())
                    );
                    if let Some(d) = &t.description {
                        println!("    tx_code description: {}", quoted(d, 300));
                    }
                }
            }
            if let Some(server) = &pre.authorization_server {
                println!("    authorization server: {}", escape(server));
            }
        }
        if let Some(auth) = &grants.authorization_code {
            println!(
                "  authorization code: offered; issuer_state: {}",
                if auth.issuer_state {
                    "present (sent with the authorization request, not shown)"
                } else {
                    "none"
                }
            );
            if let Some(server) = &auth.authorization_server {
                println!("    authorization server: {}", escape(server));
            }
        }
    }
    match report.grant_used {
        Some("pre-authorized_code") => println!("  this wallet uses: the pre-authorized code"),
        Some(_) => println!("  this wallet uses: the authorization code flow (browser login)"),
        None => println!("  this wallet uses: no grant (none usable)"),
    }

    println!("\nAuthorization servers:");
    for server in &report.authorization_servers {
        println!(
            "  {}{}",
            escape(&server.issuer),
            if server.used {
                " (used by this wallet)"
            } else {
                ""
            }
        );
        if let Some(error) = &server.error {
            println!("    metadata: could not be read: {}", escape(error));
        }
        let Some(m) = &server.metadata else {
            continue;
        };
        println!(
            "    token endpoint: {}",
            or_none(m.token_endpoint.as_deref())
        );
        println!(
            "    authorization endpoint: {}",
            or_none(m.authorization_endpoint.as_deref())
        );
        match &m.pushed_authorization_request_endpoint {
            Some(par) => println!(
                "    PAR: {}; required: {}",
                escape(par),
                yes_no(m.require_pushed_authorization_requests)
            ),
            None => println!(
                "    PAR: not offered{}",
                if m.require_pushed_authorization_requests == Some(true) {
                    " (but required_pushed_authorization_requests is true)"
                } else {
                    ""
                }
            ),
        }
        println!(
            "    PKCE methods: {}",
            list(m.code_challenge_methods_supported.as_deref())
        );
        println!(
            "    DPoP algorithms: {}",
            match &m.dpop_signing_alg_values_supported {
                Some(a) => list(Some(a)),
                None => "none (bearer tokens)".into(),
            }
        );
        println!(
            "    authorization_details types: {}",
            list(m.authorization_details_types_supported.as_deref())
        );
        println!(
            "    iss in the authorization response: {}",
            yes_no(m.authorization_response_iss_parameter_supported)
        );
        println!(
            "    anonymous pre-authorized access: {}",
            yes_no(m.pre_authorized_grant_anonymous_access_supported)
        );
        println!(
            "    client authentication methods: {}",
            list(server.token_endpoint_auth_methods_supported.as_deref())
        );
        let attestation = server
            .token_endpoint_auth_methods_supported
            .as_ref()
            .is_some_and(|m| m.iter().any(|m| m == "attest_jwt_client_auth"));
        match (&m.challenge_endpoint, attestation) {
            (Some(c), _) => println!(
                "    wallet attestation: supported, challenge endpoint {}",
                escape(c)
            ),
            (None, true) => println!("    wallet attestation: supported (no challenge endpoint)"),
            (None, false) => println!("    wallet attestation: not listed"),
        }
        println!(
            "    grant types: {}",
            list(m.grant_types_supported.as_deref())
        );
    }

    if report.can_complete {
        println!("\nResult: this wallet can complete the issuance");
    } else {
        println!("\nResult: this wallet CANNOT complete the issuance:");
        for problem in &report.problems {
            println!("  - {}", escape(problem));
        }
    }
}
