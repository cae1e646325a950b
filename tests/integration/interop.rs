//! Interoperability with a real third-party implementation: the OpenWallet
//! Foundation's oid4vc-ts packages (`@openid4vc/openid4vci` and
//! `@openid4vc/oauth2` 0.4.6, with `@sd-jwt/sd-jwt-vc` for the credential),
//! driven by the node scripts in `tests/interop/`, in both directions:
//!
//! - our SDK receives a credential from their issuer (`issuer.mjs`), in its
//!   1.0 mode, its draft-13 mode and its draft-11 mode;
//! - their wallet (`Openid4vciClient`, `wallet.mjs`) receives a credential
//!   from our reference issuer;
//! - mdocs (ISO 18013-5) both ways, with `@owf/mdoc` (`mdoc.mjs`): our wallet
//!   receives and verifies theirs (issued over OID4VCI by `issuer.mjs`, and
//!   made directly, also tampered), and their verifier checks ours.
//!
//! Needs Node.js and the packages: `npm ci --prefix tests/interop`.

use crate::common::*;
use oid4vci_wallet::types::{InputMode, SpecVersion};
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
        "@owf/mdoc",
        "@peculiar/x509",
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
    /// The root of its mdoc document signer (1.0 mode).
    mdoc_trust_anchor_pem: Option<String>,
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
            mdoc_trust_anchor_pem: ready["mdoc_trust_anchor_pem"].as_str().map(str::to_string),
            http: reqwest::Client::new(),
            _child: child,
        }
    }

    /// `POST /test/offers` -> (offer URL, tx_code).
    async fn offer(&self, tx_code: bool, by_reference: bool) -> (String, Option<String>) {
        self.offer_of(None, tx_code, by_reference).await
    }

    /// [`Self::offer`] of one configuration (default: the PID).
    async fn offer_of(
        &self,
        configuration_id: Option<&str>,
        tx_code: bool,
        by_reference: bool,
    ) -> (String, Option<String>) {
        let mut body = json!({ "tx_code": tx_code, "by_reference": by_reference });
        if let Some(id) = configuration_id {
            body["configuration_id"] = json!(id);
        }
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
        .tx_code_spec()
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

/// The OWF issuer in its draft-11 mode: the library's own draft-11 metadata
/// (`getCredentialIssuerMetadataDraft11`) and offer (`createCredentialOffer`
/// with `Openid4vciVersion.Draft11`), served without their newer members.
/// Both offer forms; the PIN as `user_pin`; a `format` + `vct` request with
/// one `proof`; the SD-JWT VC verified with the issuer's published key.
#[tokio::test(flavor = "multi_thread")]
async fn sdk_receives_a_verified_credential_from_the_owf_issuer_in_draft_11_mode() {
    let issuer = OwfIssuer::start("draft11").await;
    let wallet = wallet();
    for by_reference in [false, true] {
        let (offer_url, tx_code) = issuer.offer(true, by_reference).await;
        // The library's draft-11 offer: `credentials` and `user_pin_required`.
        if !by_reference {
            let offer = url::Url::parse(&offer_url).unwrap();
            let (_, object) = offer
                .query_pairs()
                .find(|(k, _)| k == "credential_offer")
                .expect("an offer by value");
            let object: Value = serde_json::from_str(&object).unwrap();
            assert_eq!(
                object["credentials"],
                json!([OWF_CONFIGURATION]),
                "{object}"
            );
            assert!(
                object.get("credential_configuration_ids").is_none(),
                "{object}"
            );
            assert_eq!(
                object["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"]
                    ["user_pin_required"],
                true,
                "{object}"
            );
        }

        let resolved = wallet.resolve_offer(&offer_url).await.unwrap();
        assert_eq!(resolved.issuer_id(), issuer.issuer_id);
        // Detected from `credentials_supported` as an array.
        assert_eq!(resolved.spec_version(), SpecVersion::Draft11);
        assert_eq!(
            resolved
                .issuer_display(&locales(&["fr"]))
                .and_then(|d| d.name.clone())
                .as_deref(),
            Some("Émetteur d’interopérabilité OWF")
        );
        let credentials = resolved.credentials();
        assert_eq!(credentials.len(), 1);
        assert_eq!(credentials[0].id, OWF_CONFIGURATION);
        assert_eq!(credentials[0].configuration.format, "vc+sd-jwt");
        assert_eq!(
            credentials[0].configuration.vct.as_deref(),
            Some("urn:eudi:pid:1")
        );
        assert_eq!(credentials[0].name(&locales(&["en-GB"])), "Personal ID");
        assert_eq!(credentials[0].name(&locales(&["fr"])), "Pièce d’identité");

        let Grant::PreAuthorized(step) = resolved.grant().expect("a grant") else {
            panic!("expected the pre-authorized code grant");
        };
        // `user_pin_required: true` says only that a PIN is needed.
        let spec = step
            .tx_code_spec()
            .expect("the offer asks for a user_pin")
            .clone();
        assert_eq!(spec.length, None);
        assert_eq!(spec.description, None);

        let tx_code = tx_code.expect("a PIN");
        let mut authorized = step
            .with_tx_code(tx_code.clone())
            .authorize(&wallet)
            .await
            .unwrap();
        assert_eq!(authorized.context().spec_version(), SpecVersion::Draft11);
        let signer = SoftwareSigner::generate();
        let credentials = issued(
            authorized
                .request_credential(&wallet, OWF_CONFIGURATION, &signer)
                .await
                .unwrap(),
        );
        assert_eq!(credentials.len(), 1);
        let c = &credentials[0];
        assert_eq!(c.format, "vc+sd-jwt");
        // The issuer's signature, checked with the key it publishes at
        // /.well-known/jwt-vc-issuer{path}; bound to our key (cnf.jwk).
        assert!(c.signature_verified);
        assert_eq!(c.holder_jwk.as_ref(), Some(&signer.public_jwk()));
        let sd = c.sd_jwt().expect("an SD-JWT");
        assert_eq!(sd.holder_jwk(), Some(&signer.public_jwk()));
        assert_eq!(sd.vct(), Some("urn:eudi:pid:1"));
        let claims = c.claims.as_ref().expect("disclosed claims");
        assert_eq!(claims["given_name"], "Erika");
        assert_eq!(claims["address"]["locality"], "Berlin");
        assert_eq!(claims["nationalities"], json!(["DE", "FR"]));
        // Draft 11 has no notifications.
        assert_eq!(c.notification_id, None);

        // What went over the wire, as the OWF issuer saw it.
        let bodies: Vec<Value> = serde_json::from_str(
            &issuer
                .http
                .get(format!("{}/test/bodies", issuer.base))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        )
        .unwrap();
        let last = |route: &str| {
            bodies
                .iter()
                .rev()
                .find(|b| b["route"] == route)
                .unwrap_or_else(|| panic!("no {route}: {bodies:?}"))["body"]
                .clone()
        };
        let token = last("POST /draft11/token");
        assert_eq!(token["user_pin"], tx_code.as_str(), "{token}");
        assert!(token.get("tx_code").is_none(), "{token}");
        let request = last("POST /draft11/credential");
        assert_eq!(request["format"], "vc+sd-jwt", "{request}");
        assert_eq!(request["vct"], "urn:eudi:pid:1", "{request}");
        assert_eq!(request["proof"]["proof_type"], "jwt", "{request}");
        for newer in ["proofs", "credential_configuration_id"] {
            assert!(request.get(newer).is_none(), "{newer}: {request}");
        }
    }

    let requests = issuer.requests().await;
    // The 1.0 URL first (404), then the appended one; no nonce endpoint, no
    // notification; the key from /.well-known/jwt-vc-issuer.
    let inserted = requests
        .iter()
        .position(|r| r == "GET /.well-known/openid-credential-issuer/draft11")
        .unwrap_or_else(|| panic!("1.0 URL not tried: {requests:?}"));
    let appended = requests
        .iter()
        .position(|r| r == "GET /draft11/.well-known/openid-credential-issuer")
        .unwrap_or_else(|| panic!("draft-11 URL not tried: {requests:?}"));
    assert!(inserted < appended, "{requests:?}");
    assert!(
        requests.contains(&"GET /.well-known/jwt-vc-issuer/draft11".to_string()),
        "{requests:?}"
    );
    assert!(
        !requests
            .iter()
            .any(|r| r.ends_with("/nonce") || r.ends_with("/notification")),
        "{requests:?}"
    );
}

/// Runs `wallet.mjs` (the OWF `Openid4vciClient`) against an offer and
/// returns what it printed.
async fn owf_wallet(offer_url: &str, tx_code: Option<&str>) -> Value {
    owf_wallet_with(offer_url, tx_code, None).await
}

/// [`owf_wallet`] trusting `mdoc_root` (PEM) for mdocs.
async fn owf_wallet_with(offer_url: &str, tx_code: Option<&str>, mdoc_root: Option<&str>) -> Value {
    let mut command = node("wallet.mjs");
    command.arg(offer_url);
    if let Some(pem) = mdoc_root {
        command.env("MDOC_TRUST_ANCHOR_PEM", pem);
    }
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

// ---- mso_mdoc with @owf/mdoc (tests/interop/mdoc.mjs) ----

/// Runs `node mdoc.mjs <command>` with `input` on stdin; its JSON answer.
async fn mdoc_mjs(command: &str, input: &Value) -> Value {
    use tokio::io::AsyncWriteExt as _;
    let mut child = node("mdoc.mjs")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs tests/interop/mdoc.mjs");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.to_string().as_bytes()).await.unwrap();
    drop(stdin);
    let output = tokio::time::timeout(WALLET_RUN, child.wait_with_output())
        .await
        .expect("mdoc.mjs finishes in time")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "mdoc.mjs {command} failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("mdoc.mjs output is not JSON ({e}): {stdout}"))
}

fn mdoc_wallet(anchor: &str) -> oid4vci_wallet::Wallet {
    oid4vci_wallet::Wallet::builder()
        .client_id("test-wallet")
        .dangerous_allow_http()
        .trust_anchor(anchor)
        .require_verified(true)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn sdk_receives_and_verifies_an_mdl_from_the_owf_issuer() {
    let issuer = OwfIssuer::start("1.0").await;
    let anchor = issuer.mdoc_trust_anchor_pem.clone().expect("an mdoc root");
    let (offer_url, tx_code) = issuer.offer_of(Some("mdl_mdoc"), true, false).await;
    let wallet = mdoc_wallet(&anchor);
    let resolved = wallet.resolve_offer(&offer_url).await.unwrap();
    let Grant::PreAuthorized(step) = resolved.grant().unwrap() else {
        panic!("expected the pre-authorized code grant");
    };
    let mut authorized = step
        .with_tx_code(tx_code.unwrap())
        .authorize(&wallet)
        .await
        .unwrap();
    let signer = SoftwareSigner::generate();
    let credentials = issued(
        authorized
            .request_credential(&wallet, "mdl_mdoc", &signer)
            .await
            .unwrap(),
    );
    let c = &credentials[0];
    assert_eq!(c.format, "mso_mdoc");
    // Their COSE signature, checked with their document signer's key, which
    // chains to their root; their digests; bound to our key.
    assert!(c.verification.is_verified(), "{:?}", c.verification);
    assert_eq!(c.holder_jwk.as_ref(), Some(&signer.public_jwk()));
    let mdoc = c.mdoc().unwrap();
    assert_eq!(mdoc.doc_type(), "org.iso.18013.5.1.mDL");
    let claims = c.claims.as_ref().unwrap();
    assert_eq!(claims["org.iso.18013.5.1"]["family_name"], "Mustermann");
    let configuration = authorized.context().configuration("mdl_mdoc").unwrap();
    let labelled = c.labelled(configuration, &locales(&["en"]));
    assert!(
        labelled.iter().any(
            |l| l.path == [json!("org.iso.18013.5.1"), json!("family_name")]
                && l.value == "Mustermann"
        ),
        "{labelled:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mdocs_made_by_owf_mdoc_are_verified_and_a_tampered_one_is_refused() {
    use oid4vci_wallet::verify::{check_x5chain, ChainOutcome, TrustAnchors};
    use oid4vci_wallet::verify::{Mdoc, MdocValue};
    let holder = SoftwareSigner::generate().public_jwk();
    let input = |fault: Value| {
        json!({
            "doctype": "org.iso.18013.5.1.mDL",
            "namespaces": {"org.iso.18013.5.1": {
                "family_name": "Doe",
                "given_name": "Jane",
                "birth_date": "1990-05-17",
                "issuing_country": "US",
                "portrait": {"bytes_b64url": "_9j_4AAQ"},
            }},
            "device_jwk": holder,
            "fault": fault,
        })
    };
    let made = mdoc_mjs("issue", &input(Value::Null)).await;
    let credential = made["issuer_signed"].as_str().unwrap();
    let mut anchors = TrustAnchors::new();
    anchors
        .add(made["trust_anchor_pem"].as_str().unwrap().as_bytes())
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mdoc = Mdoc::parse(credential).expect("their mdoc decodes with every digest matching");
    mdoc.check_validity(now).unwrap();
    let Ok(ChainOutcome::Trusted { leaf_jwk, .. }) = check_x5chain(mdoc.x5chain(), &anchors, now)
    else {
        panic!("their document signer does not chain to their root")
    };
    mdoc.verify_signature(&leaf_jwk).unwrap();
    assert_eq!(mdoc.doc_type(), "org.iso.18013.5.1.mDL");
    assert_eq!(mdoc.device_jwk()["x"], holder["x"]);
    let value = |name: &str| {
        mdoc.items()
            .iter()
            .find(|i| i.identifier == name)
            .map(|i| i.value.clone())
    };
    assert_eq!(
        value("birth_date"),
        Some(MdocValue::Date("1990-05-17".into()))
    );
    assert!(matches!(value("portrait"), Some(MdocValue::Bytes(_))));
    // Another root does not vouch for it.
    let other = mdoc_mjs("issue", &input(Value::Null)).await;
    let mut others = TrustAnchors::new();
    others
        .add(other["trust_anchor_pem"].as_str().unwrap().as_bytes())
        .unwrap();
    // (Their roots all have the same name: under the other one the chain
    // finds an anchor of its issuer's name whose key did not sign it, a
    // broken chain; under a root of another name, no anchor.)
    match check_x5chain(mdoc.x5chain(), &others, now) {
        Ok(ChainOutcome::NoAnchor { .. }) => {}
        Err(e) => assert!(e.contains("signature"), "{e}"),
        Ok(trusted) => panic!("trusted under another root: {trusted:?}"),
    }

    let tampered = mdoc_mjs("issue", &input(json!("wrong-digest"))).await;
    let err = Mdoc::parse(tampered["issuer_signed"].as_str().unwrap()).unwrap_err();
    assert!(err.contains("digest"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn owf_mdoc_verifies_the_mdocs_of_the_reference_issuer() {
    let issuer = default_issuer().await;
    for configuration in ["pid_mdoc", "mdl_mdoc"] {
        let wallet = mdoc_wallet(&issuer.trust_anchor_pem());
        let created = issuer.create_offer(offer(&[configuration], false, false, false));
        let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
        let Grant::PreAuthorized(step) = resolved.grant().unwrap() else {
            panic!("expected the pre-authorized code grant");
        };
        let mut authorized = step.authorize(&wallet).await.unwrap();
        let signer = SoftwareSigner::generate();
        let c = issued(
            authorized
                .request_credential(&wallet, configuration, &signer)
                .await
                .unwrap(),
        )
        .remove(0);
        let doctype = c.mdoc().unwrap().doc_type().to_string();
        let verdict = mdoc_mjs(
            "verify",
            &json!({
                "issuer_signed": c.as_str().unwrap(),
                "trust_anchor_pem": issuer.trust_anchor_pem(),
                "doctype": doctype,
                "device_jwk": signer.public_jwk(),
            }),
        )
        .await;
        assert_eq!(verdict["ok"], true, "{configuration}: {verdict}");
        assert_eq!(verdict["device_key_matches"], true, "{verdict}");
        // They decode the same claims we do.
        assert_eq!(
            verdict["claims"],
            Value::Object(c.claims.clone().unwrap()),
            "{configuration}"
        );
        // And they refuse it under another root.
        let other = oid4vci_issuer::sample_mdoc(configuration, &signer.public_jwk()).unwrap();
        let verdict = mdoc_mjs(
            "verify",
            &json!({
                "issuer_signed": c.as_str().unwrap(),
                "trust_anchor_pem": other.trust_anchor_pem,
                "doctype": doctype,
            }),
        )
        .await;
        assert_eq!(verdict["ok"], false, "{verdict}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn owf_wallet_receives_and_verifies_an_mdl_from_the_reference_issuer() {
    let issuer = default_issuer().await;
    let created = issuer.create_offer(offer(&["mdl_mdoc"], true, true, false));
    let result = owf_wallet_with(
        &created.offer_url,
        created.tx_code.as_deref(),
        Some(&issuer.trust_anchor_pem()),
    )
    .await;
    assert_eq!(result["format"], "mso_mdoc", "{result}");
    assert_eq!(result["holder_bound"], true, "{result}");
    assert_eq!(result["mdoc"]["doctype"], "org.iso.18013.5.1.mDL");
    assert_eq!(result["claims"]["org.iso.18013.5.1"]["given_name"], "Erika");
}
