//! Real-world metadata and offers (tests/fixtures, sources in its README): each
//! goes through the engine's own parsing and checks, and what a wallet shows
//! (issuer name, credential names in English and another locale, claim labels)
//! comes out right.

use oid4vci_wallet::flow::DiscoveredMetadata;
use oid4vci_wallet::flow::{parse_offer_url, validate_offer_against_metadata, OfferSource};
use oid4vci_wallet::flow::{AsMetadataDiscovery, IssuerMetadataDiscovery};
use oid4vci_wallet::flow::{EngineConfig, Exchange, Progress};
use oid4vci_wallet::types::{
    AuthorizationServerMetadata, CredentialConfiguration, CredentialOffer, InputMode,
    IssuerMetadata,
};
use oid4vci_wallet::{Grant, HttpResponse, ResolvedOffer};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn locales(tags: &[&str]) -> Vec<String> {
    tags.iter().map(|s| s.to_string()).collect()
}

/// The issuer metadata as the SDK takes it in: a 200 `application/json`
/// response handled by the discovery step for `issuer` (parsing, identifier
/// and endpoint checks).
fn issuer_metadata(name: &str, issuer: &str) -> IssuerMetadata {
    let step = IssuerMetadataDiscovery::new(issuer).unwrap();
    let response = HttpResponse::json(200, &fixture_json(name));
    match step.handle_response(response, &EngineConfig::default()) {
        Ok(Progress::Done(metadata)) => metadata,
        Ok(Progress::Again(_)) => panic!("{name}: asked for another request"),
        Err(e) => panic!("{name}: {e}"),
    }
}

/// The AS metadata as the SDK takes it in.
fn as_metadata(name: &str, issuer: &str) -> AuthorizationServerMetadata {
    let step = AsMetadataDiscovery::new(issuer).unwrap();
    let response = HttpResponse::json(200, &fixture_json(name));
    match step.handle_response(response, &EngineConfig::default()) {
        Ok(Progress::Done(metadata)) => metadata,
        Ok(Progress::Again(_)) => panic!("{name}: asked for another request"),
        Err(e) => panic!("{name}: {e}"),
    }
}

/// An offer passed by value in an `openid-credential-offer://` URL, through
/// the SDK's offer URL parser.
fn offer_by_value(name: &str) -> CredentialOffer {
    let url = format!(
        "openid-credential-offer://?credential_offer={}",
        url::form_urlencoded::byte_serialize(fixture(name).as_bytes()).collect::<String>()
    );
    offer_from_url(&url)
}

fn offer_from_url(url: &str) -> CredentialOffer {
    match parse_offer_url(url, &EngineConfig::default()) {
        Ok(OfferSource::ByValue(offer)) => offer,
        other => panic!("{other:?}"),
    }
}

fn issuer_name(metadata: &IssuerMetadata, tags: &[&str]) -> Option<String> {
    metadata
        .display_for(&locales(tags))
        .and_then(|d| d.name.clone())
}

fn credential_name(configuration: &CredentialConfiguration, tags: &[&str]) -> Option<String> {
    configuration
        .display_for(&locales(tags))
        .and_then(|d| d.name.clone())
}

/// The label of the claim at `path`, in the best of `tags`.
fn label(configuration: &CredentialConfiguration, path: &[&str], tags: &[&str]) -> Option<String> {
    let path: Vec<Value> = path.iter().map(|s| json!(s)).collect();
    configuration
        .claims()
        .iter()
        .find(|c| c.path == path)
        .and_then(|c| c.label_for(&locales(tags)))
        .map(str::to_string)
}

// ---------------------------------------------------------------- OID4VCI 1.0

#[test]
fn spec_1_0_issuer_metadata() {
    let m = issuer_metadata(
        "spec-1.0-issuer-metadata.json",
        "https://credential-issuer.example.com",
    );
    assert_eq!(
        issuer_name(&m, &["en"]).as_deref(),
        Some("Example University")
    );
    assert_eq!(
        issuer_name(&m, &["fr-FR"]).as_deref(),
        Some("Example Université")
    );
    assert_eq!(
        m.nonce_endpoint.as_deref(),
        Some("https://credential-issuer.example.com/nonce")
    );
    assert_eq!(m.batch_credential_issuance.as_ref().unwrap().batch_size, 10);

    let c = &m.credential_configurations_supported["SD_JWT_VC_example_in_OpenID4VCI"];
    assert_eq!(c.format, "dc+sd-jwt");
    assert!(c.requires_key_binding());
    let jwt = &c.proof_types_supported.as_ref().unwrap()["jwt"];
    assert_eq!(jwt.proof_signing_alg_values_supported, ["ES256"]);
    assert!(jwt.key_attestations_required.is_some());
    assert_eq!(
        credential_name(c, &["en-US"]).as_deref(),
        Some("IdentityCredential")
    );
    let display = c.display_for(&locales(&["en"])).unwrap();
    assert_eq!(display.background_color.as_deref(), Some("#12107c"));
    assert_eq!(
        display.logo.as_ref().unwrap().uri.as_deref(),
        Some("https://university.example.edu/public/logo_credential.png")
    );

    assert_eq!(c.claims().len(), 13);
    assert_eq!(
        label(c, &["given_name"], &["en"]).as_deref(),
        Some("Given Name")
    );
    assert_eq!(
        label(c, &["given_name"], &["de"]).as_deref(),
        Some("Vorname")
    );
    assert_eq!(
        label(c, &["family_name"], &["de-AT"]).as_deref(),
        Some("Nachname")
    );
    assert_eq!(
        label(c, &["address"], &["de-DE"]).as_deref(),
        Some("Wohnsitz")
    );
    // A claim without display entries has no label (the app shows the name).
    assert_eq!(label(c, &["address", "locality"], &["en"]), None);
}

#[test]
fn spec_1_0_offer_with_tx_code() {
    let offer = offer_by_value("spec-1.0-offer-pre-authorized.json");
    assert_eq!(
        offer.credential_issuer,
        "https://credential-issuer.example.com"
    );
    assert_eq!(
        offer.credential_configuration_ids,
        ["UniversityDegreeCredential", "org.iso.18013.5.1.mDL"]
    );
    let grants = offer.grants.as_ref().unwrap();
    assert!(grants.authorization_code.is_none());
    let pre = grants.pre_authorized_code.as_ref().unwrap();
    assert_eq!(pre.pre_authorized_code.secret(), "oaKazRN8I0IbtZ0C7JuMn5");
    let tx = pre.tx_code.as_ref().unwrap();
    assert_eq!(tx.mode(), InputMode::Numeric);
    assert_eq!(tx.length, Some(4));
    assert_eq!(
        tx.description.as_deref(),
        Some("Please provide the one-time code that was sent via e-mail")
    );
}

#[test]
fn eu_reference_issuer_mdl_and_diploma() {
    let m = issuer_metadata("eudiw-issuer-metadata.json", "https://issuer.eudiw.dev");
    assert_eq!(
        issuer_name(&m, &["en"]).as_deref(),
        Some("Digital Credentials Issuer")
    );
    // Only English is published: another locale falls back to it.
    assert_eq!(
        issuer_name(&m, &["de-DE"]).as_deref(),
        Some("Digital Credentials Issuer")
    );

    let mdl = &m.credential_configurations_supported["eu.europa.ec.eudi.mdl_mdoc"];
    assert_eq!(mdl.format, "mso_mdoc");
    assert_eq!(mdl.doctype.as_deref(), Some("org.iso.18013.5.1.mDL"));
    // COSE algorithm numbers, as 1.0 specifies for mdoc.
    assert_eq!(
        mdl.credential_signing_alg_values_supported.as_deref(),
        Some(&[json!(-7)][..])
    );
    let proof_types = mdl.proof_types_supported.as_ref().unwrap();
    assert!(proof_types.contains_key("jwt") && proof_types.contains_key("attestation"));
    assert_eq!(
        credential_name(mdl, &["en"]).as_deref(),
        Some("mDL (MSO Mdoc)")
    );
    assert_eq!(
        credential_name(mdl, &["fr"]).as_deref(),
        Some("mDL (MSO Mdoc)")
    );
    assert_eq!(
        label(mdl, &["org.iso.18013.5.1", "document_number"], &["en"]).as_deref(),
        Some("Licence number")
    );
    assert_eq!(
        label(mdl, &["org.iso.18013.5.1", "age_over_18"], &["en"]).as_deref(),
        Some("Age Over 18")
    );

    let diploma = &m.credential_configurations_supported["eu.europa.ec.eudi.diploma_vc_sd_jwt"];
    assert_eq!(diploma.format, "dc+sd-jwt");
    assert_eq!(
        diploma.vct.as_deref(),
        Some("urn:eu.europa.ec.eudi:diploma:1:1")
    );
    assert_eq!(
        credential_name(diploma, &["en"]).as_deref(),
        Some("Diploma (SD-JWT VC)")
    );
    assert_eq!(
        label(diploma, &["home_organization"], &["en"]).as_deref(),
        Some("Home Organization")
    );

    let a = as_metadata("eudiw-as-metadata.json", "https://issuer.eudiw.dev");
    assert_eq!(
        a.token_endpoint.as_deref(),
        Some("https://issuer.eudiw.dev/token")
    );
    assert_eq!(
        a.authorization_endpoint.as_deref(),
        Some("https://issuer.eudiw.dev/authorizationV3")
    );
    assert_eq!(
        a.code_challenge_methods_supported.as_deref(),
        Some(&["S256".to_string()][..])
    );
    assert!(a.pushed_authorization_request_endpoint.is_none());
}

#[test]
fn norwegian_sandbox_issuer_with_legacy_duplicates() {
    // Publishes both the 1.0 `credential_metadata` and the older top-level
    // `display` and `claims`: the 1.0 place wins.
    let m = issuer_metadata(
        "no-eidas2sandkasse-issuer-metadata.json",
        "https://utsteder.test.eidas2sandkasse.net",
    );
    assert_eq!(
        issuer_name(&m, &["nb-NO", "no"]).as_deref(),
        Some("Digitaliseringsdirektoratet")
    );
    assert_eq!(
        m.authorization_servers.as_deref(),
        Some(&["https://auth.test.eidas2sandkasse.net".to_string()][..])
    );

    let nnid = &m.credential_configurations_supported["no.skatteetaten.nnid_mso_mdoc"];
    assert_eq!(
        credential_name(nnid, &["en-GB"]).as_deref(),
        Some("Norwegian identification number")
    );
    assert_eq!(
        credential_name(nnid, &["no"]).as_deref(),
        Some("Norsk identitetsnummer")
    );
    let path = [
        "no.skatteetaten.nnid.1",
        "norwegian_national_id_number_type",
    ];
    assert_eq!(
        label(nnid, &path, &["en"]).as_deref(),
        Some("Type of Norwegian identification number")
    );
    assert_eq!(
        label(nnid, &path, &["no"]).as_deref(),
        Some("Type norsk identitetsnummer")
    );

    let pid = &m.credential_configurations_supported["no.minid.mpid_sd_jwt_vc"];
    assert_eq!(pid.vct.as_deref(), Some("no:minid:mpid:1"));
    assert_eq!(credential_name(pid, &["no"]).as_deref(), Some("MinID PID"));
    assert_eq!(
        label(pid, &["given_name"], &["no"]).as_deref(),
        Some("Fornavn")
    );
    assert_eq!(pid.claims().len(), 7);
    assert_eq!(pid.claims()[3].mandatory, Some(false));
}

// ------------------------------------------------------------------ draft 13

#[test]
fn german_pid_demo_issuer_draft_13() {
    let id = "https://demo.pid-issuer.bundesdruckerei.de/c";
    let offer = offer_from_url(fixture("de-bdr-pid-offer.txt").trim());
    assert_eq!(offer.credential_issuer, id);
    assert_eq!(
        offer.credential_configuration_ids,
        ["pid-sd-jwt", "pid-mso-mdoc"]
    );
    let grants = offer.grants.clone().unwrap();
    // `"authorization_code": {}`: the grant without issuer_state.
    assert!(grants.authorization_code.unwrap().issuer_state.is_none());
    assert!(grants.pre_authorized_code.is_none());

    let issuer = issuer_metadata("de-bdr-pid-issuer-metadata.json", id);
    let server = as_metadata("de-bdr-pid-as-metadata.json", id);
    assert_eq!(server.require_pushed_authorization_requests, Some(true));
    assert_eq!(
        server.pushed_authorization_request_endpoint.as_deref(),
        Some("https://demo.pid-issuer.bundesdruckerei.de/c/par")
    );
    assert!(server
        .dpop_signing_alg_values_supported
        .as_ref()
        .unwrap()
        .contains(&"ES256".to_string()));
    validate_offer_against_metadata(&offer, &issuer).unwrap();

    let resolved = ResolvedOffer::new(offer, DiscoveredMetadata::new(issuer, server)).unwrap();
    let name = |tags: &[&str]| {
        resolved
            .issuer_display(&locales(tags))
            .and_then(|d| d.name.clone())
    };
    assert_eq!(name(&["de"]).as_deref(), Some("Bundesdruckerei GmbH"));
    assert_eq!(name(&["en"]).as_deref(), Some("Bundesdruckerei GmbH"));
    assert_eq!(
        resolved
            .issuer_display(&locales(&["en"]))
            .unwrap()
            .locale
            .as_deref(),
        Some("en-US")
    );
    // No display for the configurations: the wallet shows their ids.
    let offered: Vec<_> = resolved
        .credentials()
        .iter()
        .map(|c| (c.name(&locales(&["de"])), c.configuration.format.clone()))
        .collect();
    assert_eq!(
        offered,
        [
            ("pid-sd-jwt".to_string(), "vc+sd-jwt".to_string()),
            ("pid-mso-mdoc".to_string(), "mso_mdoc".to_string())
        ]
    );
    assert!(matches!(
        resolved.grant().unwrap(),
        Grant::AuthorizationCode(_)
    ));
}

#[test]
fn education_issuer_draft_13_display() {
    // A development deployment (http, internal host name): parsed as a
    // document, without the endpoint checks a fetch would make.
    let m: IssuerMetadata =
        serde_json::from_str(&fixture("sunet-dc4eu-issuer-metadata.json")).unwrap();
    assert_eq!(
        issuer_name(&m, &["en"]).as_deref(),
        Some("SUNET dev Issuer (vc project)")
    );
    let diploma = &m.credential_configurations_supported["urn:edui:diploma:1"];
    assert_eq!(diploma.format, "vc+sd-jwt");
    assert_eq!(diploma.vct.as_deref(), Some("urn:eudi:diploma:1"));
    // Draft 13 puts `display` on the configuration itself.
    assert_eq!(
        credential_name(diploma, &["en-US"]).as_deref(),
        Some("Bachelor Diploma - SD-JWT VC")
    );
    assert_eq!(
        credential_name(diploma, &["sv"]).as_deref(),
        Some("Bachelor Diploma - SD-JWT VC")
    );
    let pid = &m.credential_configurations_supported["eu.europa.ec.eudi.pid.1"];
    let display = pid.display_for(&locales(&["en"])).unwrap();
    assert_eq!(display.name.as_deref(), Some("PID - MDOC"));
    assert_eq!(
        display.description.as_deref(),
        Some("Person Identification Data")
    );
}

/// The spec's draft-13 configurations, normalised as the wallet does when
/// it fetches metadata.
fn draft13_configurations() -> BTreeMap<String, CredentialConfiguration> {
    let doc = fixture_json("spec-draft13-credential-configurations.json");
    let metadata = serde_json::json!({
        "credential_issuer": "https://issuer.example",
        "credential_endpoint": "https://issuer.example/credential",
        "credential_configurations_supported": doc["credential_configurations_supported"],
    });
    let discovery = IssuerMetadataDiscovery::new("https://issuer.example").unwrap();
    let response = oid4vci_wallet::HttpResponse::json(200, &metadata);
    let config = oid4vci_wallet::flow::EngineConfig::default();
    let oid4vci_wallet::flow::Progress::Done(metadata) =
        discovery.handle_response(response, &config).unwrap()
    else {
        panic!("one answer is enough")
    };
    assert_eq!(
        metadata.detected_version,
        oid4vci_wallet::types::SpecVersion::Draft13
    );
    metadata.credential_configurations_supported
}

#[test]
fn spec_draft_13_configuration_names() {
    let configurations = draft13_configurations();
    let mdl = &configurations["org.iso.18013.5.1.mDL"];
    assert_eq!(
        credential_name(mdl, &["en"]).as_deref(),
        Some("Mobile Driving License")
    );
    assert_eq!(
        credential_name(mdl, &["ja"]).as_deref(),
        Some("モバイル運転免許証")
    );
    let sd = &configurations["SD_JWT_VC_example_in_OpenID4VCI"];
    assert_eq!(sd.format, "vc+sd-jwt");
    assert_eq!(
        credential_name(sd, &["en-US"]).as_deref(),
        Some("IdentityCredential")
    );
}

#[test]
fn spec_draft_13_nested_claims_become_labelled_paths() {
    let configurations = draft13_configurations();
    let mdl = &configurations["org.iso.18013.5.1.mDL"];
    let given = ["org.iso.18013.5.1", "given_name"];
    assert_eq!(label(mdl, &given, &["en"]).as_deref(), Some("Given Name"));
    assert_eq!(label(mdl, &given, &["ja-JP"]).as_deref(), Some("名前"));
    assert_eq!(
        label(mdl, &["org.iso.18013.5.1", "family_name"], &["en"]).as_deref(),
        Some("Surname")
    );
    let birth = mdl
        .claims()
        .iter()
        .find(|c| c.path == [json!("org.iso.18013.5.1"), json!("birth_date")])
        .expect("birth_date described");
    assert_eq!(birth.mandatory, Some(true));
    assert!(mdl
        .claims()
        .iter()
        .any(|c| c.path == [json!("org.iso.18013.5.1.aamva"), json!("organ_donor")]));

    let sd = &configurations["SD_JWT_VC_example_in_OpenID4VCI"];
    assert_eq!(
        label(sd, &["given_name"], &["de"]).as_deref(),
        Some("Vorname")
    );
    assert_eq!(
        label(sd, &["family_name"], &["en"]).as_deref(),
        Some("Surname")
    );
    // Nested members become nested paths.
    assert!(sd
        .claims()
        .iter()
        .any(|c| c.path == [json!("address"), json!("locality")]));
}

// ----------------------------------------------------- draft 11 / 12 offers

#[test]
fn spec_draft_12_offer_with_credentials_and_user_pin() {
    let offer = offer_by_value("spec-draft12-offer.json");
    assert_eq!(
        offer.credential_issuer,
        "https://credential-issuer.example.com"
    );
    assert_eq!(
        offer.credential_configuration_ids,
        ["UniversityDegreeCredential", "org.iso.18013.5.1.mDL"]
    );
    let grants = offer.grants.unwrap();
    assert_eq!(
        grants
            .authorization_code
            .unwrap()
            .issuer_state
            .unwrap()
            .secret(),
        "eyJhbGciOiJSU0Et...FYUaBy"
    );
    let pre = grants.pre_authorized_code.unwrap();
    assert_eq!(pre.pre_authorized_code.secret(), "adhjhdjajkdkhjhdj");
    // `user_pin_required: true` asks for a code like an empty `tx_code`.
    assert_eq!(pre.tx_code.expect("a tx_code").mode(), InputMode::Numeric);
}

#[test]
fn ebsi_draft_11_offer_with_credential_objects() {
    let offer = offer_by_value("ebsi-conformance-draft11-offer.json");
    assert_eq!(
        offer.credential_issuer,
        "https://api-conformance.ebsi.eu/conformance/v3/issuer-mock"
    );
    let pre = offer.grants.unwrap().pre_authorized_code.unwrap();
    assert!(pre
        .pre_authorized_code
        .secret()
        .starts_with("eyJhbGciOiJFUzI1NiIs"));
    assert!(pre.tx_code.is_some(), "user_pin_required: true");
}
