//! Interoperability with a real third-party implementation: the OpenWallet
//! Foundation's oid4vc-ts packages (`@openid4vc/openid4vci` and
//! `@openid4vc/oauth2` 0.4.6, with `@sd-jwt/sd-jwt-vc` for the credential),
//! driven by the node scripts in `tests/interop/`, in both directions:
//!
//! - our SDK receives a credential from their issuer (`issuer.mjs`), in its
//!   1.0 mode and its draft-13 mode;
//! - their wallet (`Openid4vciClient`, `wallet.mjs`) receives a credential
//!   from our reference issuer.
//!
//! Needs Node.js and the packages: `npm ci --prefix tests/interop`.

mod common;

use common::*;
use oid4vci_wallet::types::InputMode;
use oid4vci_wallet::{
    Grant, Issuance, IssuedCredential, NotificationEvent, Signer, SoftwareSigner,
};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const STARTUP: Duration = Duration::from_secs(30);
const WALLET_RUN: Duration = Duration::from_secs(60);

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// The node packages must be installed; say how when they are not.
fn require_node_packages() {
    let dir = interop_dir();
    for package in [
        "@openid4vc/openid4vci",
        "@openid4vc/oauth2",
        "@sd-jwt/sd-jwt-vc",
        "jose",
    ] {
        let manifest = dir.join("node_modules").join(package).join("package.json");
        assert!(
            manifest.exists(),
            "the interop tests need the node packages in tests/interop/node_modules \
             ({package} is missing): run `npm ci --prefix tests/interop` first"
        );
    }
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "the interop tests need Node.js (`node` on PATH): {node:?}"
    );
}

fn node(script: &str) -> Command {
    require_node_packages();
    let mut command = Command::new("node");
    command
        .arg(interop_dir().join(script))
        .current_dir(interop_dir())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// The third-party issuer, running until dropped.
struct OwfIssuer {
    base: String,
    issuer_id: String,
    http: reqwest::Client,
    _child: Child,
}

impl OwfIssuer {
    async fn start(mode: &str) -> Self {
        let mut child = node("issuer.mjs")
            .args(["--mode", mode])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node starts tests/interop/issuer.mjs");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(STARTUP, lines.next_line())
            .await
            .expect("issuer.mjs prints its ready line in time")
            .expect("issuer.mjs stdout")
            .expect("issuer.mjs exited before printing its ready line");
        let ready: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("issuer.mjs ready line is not JSON ({e}): {line}"));
        assert_eq!(ready["mode"], mode, "{ready}");
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            base: ready["ready"].as_str().unwrap().to_string(),
            issuer_id: ready["credential_issuer"].as_str().unwrap().to_string(),
            http: reqwest::Client::new(),
            _child: child,
        }
    }

    /// `POST /test/offers` -> (offer URL, tx_code).
    async fn offer(&self, tx_code: bool, by_reference: bool) -> (String, Option<String>) {
        let body = json!({ "tx_code": tx_code, "by_reference": by_reference });
        let response = self
            .http
            .post(format!("{}/test/offers", self.base))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let created: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        (
            created["offer_url"].as_str().unwrap().to_string(),
            created["tx_code"].as_str().map(str::to_string),
        )
    }

    /// Every request the issuer saw, as `"METHOD /path"`.
    async fn requests(&self) -> Vec<String> {
        let response = self
            .http
            .get(format!("{}/test/requests", self.base))
            .send()
            .await
            .unwrap();
        serde_json::from_str(&response.text().await.unwrap()).unwrap()
    }
}

fn locales(tags: &[&str]) -> Vec<String> {
    tags.iter().map(|s| s.to_string()).collect()
}

fn issued(issuance: Issuance) -> Vec<IssuedCredential> {
    match issuance {
        Issuance::Issued(list) => list,
        Issuance::Deferred(_) => panic!("expected immediate issuance"),
    }
}

const OWF_CONFIGURATION: &str = "eu.europa.ec.eudi.pid_vc_sd_jwt";

/// The whole pre-authorized flow with a tx_code against the OWF issuer, and
/// the checks on what the wallet shows and receives. Returns the requests the
/// issuer saw.
async fn receive_from_owf_issuer(mode: &str, expected_format: &str) -> Vec<String> {
    let issuer = OwfIssuer::start(mode).await;
    let (offer_url, tx_code) = issuer.offer(true, true).await;
    let wallet = wallet();

    let resolved = wallet.resolve_offer(&offer_url).await.unwrap();
    assert_eq!(resolved.issuer_id(), issuer.issuer_id);

    // What the wallet shows: issuer and credential names in English and
    // French, from the third party's metadata.
    let issuer_name = |tags: &[&str]| {
        resolved
            .issuer_display(&locales(tags))
            .and_then(|d| d.name.clone())
    };
    assert_eq!(issuer_name(&["en"]).as_deref(), Some("OWF Interop Issuer"));
    assert_eq!(
        issuer_name(&["fr"]).as_deref(),
        Some("Émetteur d’interopérabilité OWF")
    );
    let credentials = resolved.credentials();
    assert_eq!(credentials.len(), 1);
    assert_eq!(credentials[0].id, OWF_CONFIGURATION);
    assert_eq!(credentials[0].configuration.format, expected_format);
    assert_eq!(credentials[0].name(&locales(&["en-GB"])), "Personal ID");
    assert_eq!(credentials[0].name(&locales(&["fr"])), "Pièce d’identité");

    let Grant::PreAuthorized(step) = resolved.grant().expect("a grant") else {
        panic!("expected the pre-authorized code grant");
    };
    let spec = step
        .tx_code()
        .expect("the offer asks for a tx_code")
        .clone();
    assert_eq!(spec.mode(), InputMode::Numeric);
    assert_eq!(spec.length, Some(6));
    assert_eq!(spec.description.as_deref(), Some("Code sent by e-mail"));

    let mut authorized = step
        .with_tx_code(tx_code.expect("a tx_code"))
        .authorize(&wallet)
        .await
        .unwrap();
    let signer = SoftwareSigner::generate();
    let credentials = issued(
        authorized
            .request_credential(&wallet, OWF_CONFIGURATION, &signer)
            .await
            .unwrap(),
    );
    assert_eq!(credentials.len(), 1);
    let c = &credentials[0];
    assert_eq!(c.format, expected_format);
    // The issuer's signature, checked with the key it publishes at
    // /.well-known/jwt-vc-issuer{path}.
    assert!(c.signature_verified);
    // Bound to our key (cnf.jwk).
    assert_eq!(c.holder_jwk.as_ref(), Some(&signer.public_jwk()));
    let sd = c.sd_jwt().expect("an SD-JWT");
    assert_eq!(sd.holder_jwk(), Some(&signer.public_jwk()));
    assert_eq!(sd.vct(), Some("urn:eudi:pid:1"));
    // Claims from the disclosures made by @sd-jwt/sd-jwt-vc: top level,
    // nested in an object, array elements; decoy digests ignored.
    let claims = c.claims.as_ref().expect("disclosed claims");
    assert_eq!(claims["given_name"], "Erika");
    assert_eq!(claims["family_name"], "Mustermann");
    assert_eq!(claims["birthdate"], "1964-08-12");
    assert_eq!(claims["address"]["locality"], "Berlin");
    assert_eq!(claims["address"]["country"], "DE");
    assert_eq!(claims["nationalities"], json!(["DE", "FR"]));
    assert!(!claims.contains_key("_sd"), "{claims:?}");

    // Claim labels from the metadata, in French.
    let configuration = authorized
        .context()
        .configuration(OWF_CONFIGURATION)
        .unwrap();
    let labelled = c.labelled_claims(configuration, &locales(&["fr-FR"]));
    for (label, value) in [("Prénom", json!("Erika")), ("Ville", json!("Berlin"))] {
        assert!(
            labelled.iter().any(|(l, v)| l == label && *v == value),
            "{label}: {labelled:?}"
        );
    }

    // The notification endpoint accepts our event.
    let notification_id = c.notification_id.clone().expect("a notification_id");
    authorized
        .notify(
            &wallet,
            &notification_id,
            NotificationEvent::CredentialAccepted,
        )
        .await
        .unwrap();

    let requests = issuer.requests().await;
    for needed in [
        "POST /test/offers",
        "/token",
        "/credential",
        "GET /.well-known/jwt-vc-issuer",
        "/notification",
    ] {
        assert!(
            requests.iter().any(|r| r.contains(needed)),
            "{needed}: {requests:?}"
        );
    }
    requests
}

#[tokio::test(flavor = "multi_thread")]
async fn sdk_receives_a_verified_bound_sd_jwt_vc_from_the_owf_issuer() {
    let requests = receive_from_owf_issuer("1.0", "dc+sd-jwt").await;
    // The 1.0 path-inserted metadata URL, never the draft-13 appended one;
    // a fresh nonce from the nonce endpoint.
    assert!(
        requests.contains(&"GET /.well-known/openid-credential-issuer/oid4vci".to_string()),
        "{requests:?}"
    );
    assert!(
        !requests.iter().any(|r| r.contains("/oid4vci/.well-known/")),
        "{requests:?}"
    );
    assert!(
        requests.contains(&"POST /oid4vci/nonce".to_string()),
        "{requests:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sdk_receives_a_verified_bound_sd_jwt_vc_from_the_owf_issuer_in_draft_13_mode() {
    let requests = receive_from_owf_issuer("draft13", "vc+sd-jwt").await;
    // The 1.0 URL first (404), then the appended draft-13 one.
    let inserted = requests
        .iter()
        .position(|r| r == "GET /.well-known/openid-credential-issuer/draft13")
        .unwrap_or_else(|| panic!("1.0 URL not tried: {requests:?}"));
    let appended = requests
        .iter()
        .position(|r| r == "GET /draft13/.well-known/openid-credential-issuer")
        .unwrap_or_else(|| panic!("draft-13 URL not tried: {requests:?}"));
    assert!(inserted < appended, "{requests:?}");
    // No nonce endpoint: the c_nonce came with the token response.
    assert!(
        !requests.iter().any(|r| r.ends_with("/nonce")),
        "{requests:?}"
    );
}

/// Runs `wallet.mjs` (the OWF `Openid4vciClient`) against an offer and
/// returns what it printed.
async fn owf_wallet(offer_url: &str, tx_code: Option<&str>) -> Value {
    let mut command = node("wallet.mjs");
    command.arg(offer_url);
    if let Some(code) = tx_code {
        command.arg(code);
    }
    let output = tokio::time::timeout(WALLET_RUN, command.output())
        .await
        .expect("wallet.mjs finishes in time")
        .expect("node runs tests/interop/wallet.mjs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the OWF wallet failed ({}):\n{stderr}\n{stdout}",
        output.status
    );
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("wallet.mjs output is not JSON ({e}): {stdout}\n{stderr}"))
}

async fn owf_wallet_against(issuer: &RunningIssuer, by_reference: bool) {
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], true, by_reference, false));
    let result = owf_wallet(&created.offer_url, created.tx_code.as_deref()).await;

    assert_eq!(result["credential_issuer"], issuer.issuer_id());
    assert_eq!(result["detected_version"], "V1", "{result}");
    assert_eq!(result["nonce_source"], "nonce_endpoint", "{result}");
    assert_eq!(result["format"], "dc+sd-jwt");
    // @sd-jwt/sd-jwt-vc verified our signature with the key from our
    // /.well-known/jwt-vc-issuer, and decoded our disclosures.
    assert_eq!(result["signature_verified"], true);
    assert_eq!(result["header"]["typ"], "dc+sd-jwt");
    assert_eq!(result["claims"]["given_name"], "Erika");
    assert_eq!(result["claims"]["family_name"], "Mustermann");
    assert_eq!(result["claims"]["address"]["locality"], "Berlin");
    assert_eq!(result["claims"]["vct"], "urn:eudi:pid:1");
    assert_eq!(result["holder_bound"], true, "{result}");
    assert_eq!(result["notified"], true);
    assert_eq!(
        issuer
            .notifications()
            .iter()
            .filter(|(_, event)| event == "credential_accepted")
            .count(),
        1,
        "{:?}",
        issuer.notifications()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn owf_wallet_receives_a_credential_from_the_reference_issuer() {
    let issuer = default_issuer().await;
    owf_wallet_against(&issuer, true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn owf_wallet_receives_a_credential_from_the_reference_issuer_without_credential_identifiers()
{
    let issuer = start(Issuer::builder().credential_identifiers(false)).await;
    owf_wallet_against(&issuer, false).await;
}
