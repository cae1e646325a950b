//! The `oid4vci` command line against the reference issuer.

mod common;

use common::*;
use std::process::{Command, Stdio};

fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_oid4vci"))
}

#[tokio::test]
async fn receive_prints_one_json_object_and_exits_zero() {
    let issuer = default_issuer().await;
    let created = issuer.create_offer(offer(
        &["pid_sd_jwt", "membership_sd_jwt"],
        true,
        true,
        false,
    ));
    let url = created.offer_url.clone();
    let tx = created.tx_code.clone().unwrap();
    let out = tokio::task::spawn_blocking(move || {
        cli()
            .args([
                "receive",
                &url,
                "--tx-code",
                &tx,
                "--dangerous-allow-http",
                "--json",
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON object");
    assert_eq!(json["credential_issuer"], issuer.issuer_id());
    // The issuer's batch_size (3) for the key-bound PID, one for the
    // unbound membership.
    let list = json["credentials"].as_array().unwrap();
    assert_eq!(list.len(), 4, "{json}");
    for pid in &list[..3] {
        assert_eq!(pid["credential_configuration_id"], "pid_sd_jwt");
        assert_eq!(pid["format"], "dc+sd-jwt");
        assert!(pid["credential"].as_str().unwrap().contains('~'));
    }
    assert_distinct_keys(&list[..3]);
    assert_eq!(list[3]["credential_configuration_id"], "membership_sd_jwt");
}

/// Each credential names its holder key, and no two the same.
fn assert_distinct_keys(credentials: &[serde_json::Value]) {
    let keys: std::collections::BTreeSet<String> = credentials
        .iter()
        .map(|c| {
            assert!(c["holder_jwk"]["x"].is_string(), "{c}");
            c["holder_jwk"]["x"].to_string()
        })
        .collect();
    assert_eq!(keys.len(), credentials.len(), "{credentials:?}");
}

/// `--batch N`: N credentials of the configuration, each bound to its own
/// fresh key, one request; the stage lines on stderr in order; and
/// `credential_accepted` told to the issuer after printing (once: a batch
/// shares its notification_id), unless `--no-notify`.
#[tokio::test]
async fn receive_batch_binds_each_credential_to_its_own_key_and_notifies_acceptance() {
    let issuer = default_issuer().await;
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    let out = run(args(&[
        "receive",
        &created.offer_url,
        "--dangerous-allow-http",
        "--json",
        "--batch",
        "2",
    ]))
    .await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = json["credentials"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{json}");
    assert_distinct_keys(list);
    assert_eq!(count(&issuer, "/credential"), 1, "one batch request");
    let notification_id = list[0]["notification_id"].as_str().unwrap().to_string();
    assert_eq!(
        issuer.notifications(),
        [(notification_id, "credential_accepted".to_string())]
    );
    let mut at = 0;
    for line in [
        "resolving the offer...",
        &format!("reading the metadata of {}...", issuer.issuer_id()),
        "requesting the access token...",
        "requesting \"pid_sd_jwt\" (1 of 1): 2 credentials, one fresh key each...",
        "received 2 credentials",
        "told the issuer: credential_accepted (1 notification)",
    ] {
        let found = stderr[at..]
            .find(line)
            .unwrap_or_else(|| panic!("{line:?} after byte {at} of:\n{stderr}"));
        at += found + line.len();
    }

    // Text output: the batch shown once, with its size.
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    let out = run(args(&[
        "receive",
        &created.offer_url,
        "--dangerous-allow-http",
    ]))
    .await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.contains("[pid_sd_jwt, dc+sd-jwt] x3, each bound to its own key"),
        "the issuer's batch_size by default:\n{stdout}"
    );
    assert_eq!(issuer.notifications().len(), 2);

    // --no-notify: nothing told; --batch 1: one credential.
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    let out = run(args(&[
        "receive",
        &created.offer_url,
        "--dangerous-allow-http",
        "--json",
        "--batch",
        "1",
        "--no-notify",
    ]))
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["credentials"].as_array().unwrap().len(), 1);
    assert_eq!(issuer.notifications().len(), 2, "--no-notify told nothing");
    assert!(!text(&out.stderr).contains("credential_accepted"));
}

/// A deferred batch: the waits are stage lines with the time of the next
/// poll, and the deferred credentials are accepted too.
#[tokio::test]
async fn receive_batch_of_a_deferred_credential_shows_the_next_poll_and_notifies() {
    let issuer = start(
        Issuer::builder()
            .deferred_pending_polls(1)
            .deferred_interval(1),
    )
    .await;
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, true));
    let out = run(args(&[
        "receive",
        &created.offer_url,
        "--dangerous-allow-http",
        "--json",
    ]))
    .await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_distinct_keys(json["credentials"].as_array().unwrap());
    let waits = stderr
        .lines()
        .filter(|l| l.starts_with("deferred: the issuer is not ready yet; next poll in 1 s (at "))
        .count();
    assert_eq!(waits, 2, "{stderr}");
    assert_eq!(issuer.notifications().len(), 1, "{stderr}");
    assert_eq!(issuer.notifications()[0].1, "credential_accepted");
}

#[test]
fn batch_needs_fresh_keys_and_at_least_one() {
    for usage in [
        vec!["receive", "openid-credential-offer://?x", "--batch", "0"],
        vec![
            "receive",
            "openid-credential-offer://?x",
            "--batch",
            "2",
            "--key",
            "holder.jwk",
        ],
    ] {
        let out = cli().args(&usage).stdin(Stdio::null()).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{usage:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test]
async fn receive_without_a_terminal_for_the_tx_code_fails_clearly() {
    let issuer = default_issuer().await;
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], true, false, false));
    let url = created.offer_url.clone();
    let out = tokio::task::spawn_blocking(move || {
        cli()
            .args(["receive", &url, "--dangerous-allow-http"])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--tx-code"), "{stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(count(&issuer, "/token"), 0);
}

#[tokio::test]
async fn receive_text_output_shows_labels_and_a_deferred_credential() {
    let issuer = start(
        Issuer::builder()
            .deferred_pending_polls(1)
            .deferred_interval(1),
    )
    .await;
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, true));
    let url = created.offer_url.clone();
    let out = tokio::task::spawn_blocking(move || {
        cli()
            .args(["receive", &url, "--dangerous-allow-http", "--locale", "de"])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Credential \"Personalausweis\""),
        "{stdout}"
    );
    assert!(stdout.contains("    \"Vorname\": \"Erika\""), "{stdout}");
    assert!(stdout.contains("issuer signature: verified"), "{stdout}");
}

#[test]
fn an_https_only_wallet_refuses_the_http_issuer() {
    let out = cli()
        .args([
            "receive",
            "openid-credential-offer://?credential_offer_uri=http%3A%2F%2F127.0.0.1%3A9%2Fo",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("credential_offer_uri"));
}

/// Runs the CLI with `args`, plays the user in the browser when it prints the
/// authorization URL, lets the "browser" follow the redirect to the CLI's
/// loopback listener, and returns the CLI's JSON output.
async fn with_browser_login(args: Vec<String>) -> serde_json::Value {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_oid4vci"))
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("  http") {
                return format!("http{url}");
            }
        }
        panic!("the CLI ended without printing an authorization URL")
    })
    .await
    .expect("the authorization URL within 30 s");
    let redirect = browser(&url, "max", "max-password", true).await;
    assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");
    let page = reqwest::get(&redirect).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("close this window"));
    let rest = tokio::spawn(async move {
        let mut text = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let out = child.wait_with_output().await.unwrap();
    let stderr = rest.await.unwrap();
    assert!(out.status.success(), "stderr: {stderr}");
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON object")
}

#[tokio::test]
async fn request_logs_in_through_the_loopback_redirect() {
    let issuer = start(Issuer::builder().separate_authorization_server(true)).await;
    let json = with_browser_login(
        [
            "request",
            "--issuer",
            &issuer.issuer_id(),
            "--credential",
            "pid_sd_jwt",
            "--dangerous-allow-http",
            "--json",
            "--login-timeout",
            "30",
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    assert_eq!(json["credentials"][0]["claims"]["given_name"], "Max");
    assert_eq!(count(&issuer, "/par"), 1);
}

#[tokio::test]
async fn receive_handles_an_authorization_code_offer() {
    let issuer = default_issuer().await;
    let created = issuer.create_offer(OfferRequest {
        authorization_code: Some(true),
        ..offer(&["membership_sd_jwt"], false, false, false)
    });
    let json = with_browser_login(
        [
            "receive",
            &created.offer_url,
            "--dangerous-allow-http",
            "--json",
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    assert_eq!(json["credentials"][0]["claims"]["member_id"], "M-2002");
}

#[tokio::test]
async fn the_redirect_wait_times_out() {
    let issuer = default_issuer().await;
    let id = issuer.issuer_id();
    let out = tokio::task::spawn_blocking(move || {
        cli()
            .args([
                "request",
                "--issuer",
                &id,
                "--credential",
                "pid_sd_jwt",
                "--dangerous-allow-http",
                "--login-timeout",
                "1",
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no redirect arrived within 1 s"),
        "{stderr}"
    );
    assert_eq!(count(&issuer, "/token"), 0);
}

/// Runs the CLI with `args` (no stdin) off the async runtime.
async fn run(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || cli().args(&args).stdin(Stdio::null()).output().unwrap())
        .await
        .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Nothing that is spent or that needs the user was called.
fn assert_nothing_spent(issuer: &RunningIssuer) {
    for endpoint in ["/token", "/par", "/authorize", "/credential", "/nonce"] {
        assert_eq!(
            count(issuer, endpoint),
            0,
            "{endpoint}: {:?}",
            issuer.stats()
        );
    }
}

#[tokio::test]
async fn inspect_an_offer_by_value_spends_nothing() {
    let issuer = default_issuer().await;
    let created = issuer.create_offer(offer(
        &["pid_sd_jwt", "membership_sd_jwt"],
        true,
        false,
        false,
    ));
    let out = run(args(&[
        "inspect",
        &created.offer_url,
        "--dangerous-allow-http",
    ]))
    .await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_nothing_spent(&issuer);
    for needle in [
        &format!("Credential issuer: {}", issuer.issuer_id())[..],
        "display name: \"Reference Issuer\"",
        "configuration \"pid_sd_jwt\": \"Person ID\"",
        "configuration \"membership_sd_jwt\"",
        "format: dc+sd-jwt",
        "vct: urn:eudi:pid:1",
        "proof type jwt: algorithms ES256",
        "key attestation: not required",
        "binding methods: jwk",
        "tx_code: required; input_mode numeric; length 6",
        "tx_code description: \"Enter the 6-digit code",
        "this wallet uses: the pre-authorized code",
        "nonce endpoint: http://",
        "PKCE methods: S256",
        "Result: this wallet can complete the issuance",
    ] {
        assert!(stdout.contains(needle), "{needle:?} in\n{stdout}");
    }
    assert!(!stderr.contains("credential_offer_uri"), "{stderr}");
    // The pre-authorized code is still good.
    let tx = created.tx_code.unwrap();
    let out = run(args(&[
        "receive",
        &created.offer_url,
        "--tx-code",
        &tx,
        "--dangerous-allow-http",
        "--json",
    ]))
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[tokio::test]
async fn inspect_an_offer_by_reference_says_it_fetched_it_and_prints_json() {
    let issuer = default_issuer().await;
    let created = issuer.create_offer(offer(
        &["pid_sd_jwt", "membership_sd_jwt"],
        true,
        true,
        false,
    ));
    let out = run(args(&[
        "inspect",
        &created.offer_url,
        "--dangerous-allow-http",
        "--json",
    ]))
    .await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("fetched the offer from its credential_offer_uri")
            && stderr.contains("only once"),
        "{stderr}"
    );
    assert_eq!(count(&issuer, "/offers/"), 1, "{:?}", issuer.stats());
    assert_nothing_spent(&issuer);
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON object");
    assert_eq!(json["source"], "offer");
    assert_eq!(json["credential_issuer"], issuer.issuer_id());
    assert_eq!(json["offer"]["by_reference"], true);
    let ids: Vec<&str> = json["credential_configurations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["pid_sd_jwt", "membership_sd_jwt"]);
    assert_eq!(json["credential_configurations"][0]["format"], "dc+sd-jwt");
    assert_eq!(json["credential_configurations"][0]["can_issue"], true);
    let tx_code = &json["grants"]["pre_authorized_code"]["tx_code"];
    assert_eq!(tx_code["input_mode"], "numeric");
    assert_eq!(tx_code["length"], 6);
    assert!(
        tx_code["description"].as_str().unwrap().contains("6-digit"),
        "{tx_code}"
    );
    assert_eq!(json["grant_used"], "pre-authorized_code");
    assert_eq!(json["authorization_servers"][0]["used"], true);
    assert_eq!(json["can_complete"], true);
    assert_eq!(json["problems"], serde_json::json!([]));
}

#[tokio::test]
async fn inspect_exits_3_when_key_attestations_are_required() {
    let issuer = start(Issuer::builder().key_attestations_required(true)).await;
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    let out = run(args(&[
        "inspect",
        &created.offer_url,
        "--dangerous-allow-http",
    ]))
    .await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(stdout.contains("key attestation: REQUIRED"), "{stdout}");
    assert!(
        stdout.contains("key_storage: [\"iso_18045_high\"]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("user_authentication: [\"iso_18045_high\"]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Result: this wallet CANNOT complete the issuance"),
        "{stdout}"
    );
    assert!(
        stderr.contains("could not complete the issuance")
            && stderr.contains("key_attestations_required"),
        "{stderr}"
    );
    assert_nothing_spent(&issuer);
    let out = run(args(&[
        "inspect",
        &created.offer_url,
        "--dangerous-allow-http",
        "--json",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(3));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["can_complete"], false);
    let pid = &json["credential_configurations"][0];
    assert_eq!(pid["can_issue"], false);
    assert!(pid["problem"].as_str().unwrap().contains("key attestation"));
    assert_eq!(
        pid["proof_types_supported"]["jwt"]["key_storage"],
        serde_json::json!(["iso_18045_high"])
    );
    assert_nothing_spent(&issuer);
}

#[tokio::test]
async fn inspect_issuer_lists_the_supported_configurations() {
    let issuer = start(Issuer::builder().separate_authorization_server(true)).await;
    let metadata: serde_json::Value = serde_json::from_str(
        &reqwest::get(format!(
            "{}/.well-known/openid-credential-issuer",
            issuer.issuer_id()
        ))
        .await
        .unwrap()
        .text()
        .await
        .unwrap(),
    )
    .unwrap();
    let supported: Vec<String> = metadata["credential_configurations_supported"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert!(supported.len() >= 3, "{supported:?}");
    let id = issuer.issuer_id();
    let out = run(args(&[
        "inspect",
        "--issuer",
        &id,
        "--dangerous-allow-http",
    ]))
    .await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    for config in &supported {
        assert!(
            stdout.contains(&format!("configuration \"{config}\"")),
            "{config} in\n{stdout}\n{stderr}"
        );
    }
    assert!(
        stdout.contains(&format!(
            "{} (used by this wallet)",
            issuer.authorization_server()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("this wallet uses: the authorization code flow"),
        "{stdout}"
    );
    assert!(!stdout.contains("Grants:"), "{stdout}");
    let out = run(args(&[
        "inspect",
        "--issuer",
        &id,
        "--dangerous-allow-http",
        "--json",
        "--credential",
        "pid_sd_jwt",
    ]))
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["source"], "issuer");
    assert_eq!(json["credential_configurations"][0]["id"], "pid_sd_jwt");
    assert_eq!(
        json["credential_configurations"].as_array().unwrap().len(),
        1
    );
    assert_eq!(
        json["authorization_servers"][0]["issuer"],
        issuer.authorization_server()
    );
    assert!(json["authorization_servers"][0]["pushed_authorization_request_endpoint"].is_string());
    assert_eq!(count(&issuer, "/token"), 0);
    assert_eq!(count(&issuer, "/par"), 0);
    // Naming a configuration the issuer does not have is a reason too.
    let out = run(args(&[
        "inspect",
        "--issuer",
        &id,
        "--dangerous-allow-http",
        "--credential",
        "no_such_thing",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("no_such_thing"));
}

#[test]
fn inspect_needs_an_offer_or_an_issuer_and_documents_its_exit_codes() {
    let out = cli().arg("inspect").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = cli().args(["inspect", "--help"]).output().unwrap();
    let help = text(&out.stdout);
    assert!(
        help.contains("Exit codes: 0") && help.contains("3 it could not"),
        "{help}"
    );
}

/// What a hostile issuer writes: an ANSI sequence that clears the line and
/// returns the cursor, a fake status line, newlines, bidi overrides.
const FAKE_STATUS: &str = "issuer signature: verified";

fn hostile(prefix: &str) -> String {
    format!("{prefix}\u{1b}[2K\r{FAKE_STATUS}")
}

/// No escape sequence, bidi override or carriage return reaches the
/// terminal, and no line starts with the fake status (the CLI's own status
/// lines are indented, `  issuer signature: ...`, one per credential).
fn assert_terminal_safe(what: &str, output: &str, own_status_lines: usize) {
    for bad in ['\u{1b}', '\u{202e}', '\u{9b}', '\r', '\u{2066}', '\u{200b}'] {
        assert!(
            !output.contains(bad),
            "{what}: {:?} in\n{output}",
            bad.escape_unicode().to_string()
        );
    }
    let mut status_lines = 0;
    for line in output.lines() {
        assert!(!line.starts_with(FAKE_STATUS), "{what}: {line:?}");
        if line.trim_start().starts_with("issuer signature") {
            assert!(line.starts_with("  issuer signature: "), "{what}: {line:?}");
            status_lines += 1;
        }
    }
    assert_eq!(status_lines, own_status_lines, "{what}:\n{output}");
}

/// An issuer whose metadata (display names, claim labels) carries `payload`:
/// the reference issuer's metadata, canned, on a port chosen beforehand.
async fn issuer_with_hostile_metadata(payload: &str) -> RunningIssuer {
    let model = default_issuer().await;
    let document = reqwest::get(format!(
        "{}/.well-known/openid-credential-issuer",
        model.issuer_id()
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut metadata: serde_json::Value =
        serde_json::from_str(&document.replace(&model.base_url(), &base)).unwrap();
    metadata["display"] =
        serde_json::json!([{ "name": hostile("Reference\u{202e}"), "locale": "en" }]);
    let pid = &mut metadata["credential_configurations_supported"]["pid_sd_jwt"];
    pid["credential_metadata"]["display"] =
        serde_json::json!([{ "name": payload, "locale": "en" }]);
    pid["credential_metadata"]["claims"][0]["display"] =
        serde_json::json!([{ "name": hostile("\n"), "locale": "en" }]);
    Issuer::builder()
        .respond(oid4vci_issuer::Canned::json(
            oid4vci_issuer::Endpoint::IssuerMetadata,
            200,
            metadata,
        ))
        .spawn(&format!("127.0.0.1:{port}"))
        .await
        .expect("the issuer starts on the chosen port")
}

#[tokio::test]
async fn issuer_text_cannot_rewrite_the_terminal() {
    let issuer = issuer_with_hostile_metadata(&hostile("\u{2066}ID\u{200b}")).await;
    let mut claims = serde_json::Map::new();
    claims.insert("given_name".into(), hostile("Erika").into());
    claims.insert(
        "family_name".into(),
        format!("Muster\n{FAKE_STATUS}").into(),
    );
    claims.insert("birthdate".into(), "\u{202e}21-80-4691".into());
    let created = issuer.create_offer(OfferRequest {
        claims: Some(claims),
        ..offer(&["pid_sd_jwt"], true, false, false)
    });
    // The tx_code description, as a hostile offer would carry it.
    let query = common::query(&created.offer_url);
    let mut json: serde_json::Value = serde_json::from_str(&query["credential_offer"]).unwrap();
    json["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"]["tx_code"]
        ["description"] = hostile("\u{9b}2J\n").into();
    let offer_url = by_value(&json);
    let tx = created.tx_code.unwrap();

    let out = run(args(&["inspect", &offer_url, "--dangerous-allow-http"])).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_terminal_safe("inspect stdout", &stdout, 0);
    assert_terminal_safe("inspect stderr", &text(&out.stderr), 0);
    // Shown, escaped, after the CLI's own labels.
    assert!(
        stdout.contains("display name: \"Reference\\u202e\\u001b[2K\\r"),
        "{stdout}"
    );
    assert!(
        stdout.contains("tx_code description: \"\\u009b2J\\n\\u001b[2K\\r"),
        "{stdout}"
    );

    let out = run(args(&[
        "inspect",
        &offer_url,
        "--dangerous-allow-http",
        "--json",
    ]))
    .await;
    let raw = text(&out.stdout);
    assert_terminal_safe("inspect --json", &raw, 0);
    let json: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        json["display_name"],
        hostile("Reference\u{202e}"),
        "JSON consumers get the issuer's values as sent"
    );

    let out = run(args(&[
        "receive",
        &offer_url,
        "--tx-code",
        &tx,
        "--dangerous-allow-http",
    ]))
    .await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert_terminal_safe("receive stdout", &stdout, 1);
    assert_terminal_safe("receive stderr", &text(&out.stderr), 0);
    assert!(
        // The label passed the library's display_text (controls became
        // spaces); the value is as issued, escaped by the CLI.
        stdout.contains("\"  [2K issuer signature: verified\": \"Erika\\u001b[2K\\r"),
        "{stdout}"
    );
    assert!(stdout.contains("\"\\u202e21-80-4691\""), "{stdout}");
    assert!(
        stdout.contains("\"Muster\\nissuer signature: verified\""),
        "{stdout}"
    );
}

#[tokio::test]
async fn receive_json_and_error_descriptions_are_terminal_safe() {
    let issuer = default_issuer().await;
    let mut claims = serde_json::Map::new();
    claims.insert("given_name".into(), hostile("\u{202e}").into());
    let created = issuer.create_offer(OfferRequest {
        claims: Some(claims),
        ..offer(&["pid_sd_jwt"], false, false, false)
    });
    let out = run(args(&[
        "receive",
        &created.offer_url,
        "--dangerous-allow-http",
        "--json",
    ]))
    .await;
    let raw = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_terminal_safe("receive --json", &raw, 0);
    let json: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        json["credentials"][0]["claims"]["given_name"],
        hostile("\u{202e}")
    );

    let issuer = start(Issuer::builder().respond(oid4vci_issuer::Canned::json(
        oid4vci_issuer::Endpoint::Token,
        400,
        serde_json::json!({
            "error": "invalid_grant",
            "error_description": hostile("\u{202e}\n"),
        }),
    )))
    .await;
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    let out = run(args(&[
        "receive",
        &created.offer_url,
        "--dangerous-allow-http",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_terminal_safe("receive error", &stderr, 0);
    assert!(
        stderr.contains("error: ") && stderr.contains("invalid_grant"),
        "{stderr}"
    );
}

#[tokio::test]
async fn receive_decodes_an_mdl_and_verifies_it_by_the_trust_anchor() {
    let issuer = default_issuer().await;
    let created = issuer.create_offer(offer(&["mdl_mdoc"], false, false, false));
    let dir = std::env::temp_dir().join(format!("oid4vci-cli-mdl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let anchor = dir.join("root.pem");
    std::fs::write(&anchor, issuer.trust_anchor_pem()).unwrap();
    let anchor = anchor.to_string_lossy().into_owned();
    let base = [
        "receive",
        created.offer_url.as_str(),
        "--dangerous-allow-http",
        "--trust-anchor",
        anchor.as_str(),
    ];
    let out = run(args(&[&base[..], &["--json"]].concat())).await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let credential = &json["credentials"][0];
    assert_eq!(credential["format"], "mso_mdoc");
    assert_eq!(credential["verification"]["status"], "verified");
    assert_eq!(credential["verification"]["by"]["method"], "trust_anchor");
    assert_eq!(
        credential["claims"]["org.iso.18013.5.1"]["family_name"],
        "Mustermann"
    );

    // Text: labelled in the locale, the portrait shown as bytes, not text.
    let created = issuer.create_offer(offer(&["mdl_mdoc"], false, false, false));
    let mut text_args = base.to_vec();
    text_args[1] = created.offer_url.as_str();
    text_args.extend(["--locale", "de"]);
    let out = run(args(&text_args)).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(stdout.contains("\"Nachname\": \"Mustermann\""), "{stdout}");
    assert!(stdout.contains("\"Lichtbild\": <"), "{stdout}");
    assert!(stdout.contains("issuer signature: verified"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A private JWK file for `signer`.
fn private_jwk(signer: &oid4vci_wallet::SoftwareSigner) -> serde_json::Value {
    use base64::Engine as _;
    use oid4vci_wallet::Signer as _;
    let mut jwk = signer.public_jwk();
    jwk["d"] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(signer.to_bytes())
        .into();
    jwk
}

/// A tester presents what their wallet provider issued: a Wallet
/// Attestation with its key, and a key attestation with the attested key,
/// to an issuer that requires both (EU PID style).
#[tokio::test]
async fn receive_presents_a_wallet_attestation_and_a_key_attestation_from_files() {
    use oid4vci_wallet::Signer as _;
    let issuer = start(
        Issuer::builder()
            .wallet_attestation(oid4vci_issuer::WalletAttestation::Required)
            .key_attestations_required(true),
    )
    .await;
    let dir = std::env::temp_dir().join(format!("oid4vci-cli-attest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    };
    let instance = oid4vci_wallet::SoftwareSigner::generate();
    let holder = oid4vci_wallet::SoftwareSigner::generate();
    let attestation = write(
        "wallet-attestation.jwt",
        issuer.issue_wallet_attestation(
            "oid4vci-cli",
            &instance.public_jwk(),
            std::time::Duration::from_secs(600),
        ),
    );
    let attestation_key = write("instance.jwk", private_jwk(&instance).to_string());
    let key_attestation = write(
        "key-attestation.jwt",
        issuer.issue_key_attestation(
            &[holder.public_jwk()],
            None,
            std::time::Duration::from_secs(600),
        ),
    );
    let key = write("holder.jwk", private_jwk(&holder).to_string());
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    let out = run(args(&[
        "receive",
        &created.offer_url,
        "--dangerous-allow-http",
        "--json",
        "--wallet-attestation",
        &attestation,
        "--wallet-attestation-key",
        &attestation_key,
        "--key-attestation",
        &key_attestation,
        "--key",
        &key,
    ]))
    .await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["credentials"][0]["claims"]["given_name"], "Erika");
    assert_eq!(count(&issuer, "key_attestations_accepted"), 1);

    // Without them the same issuer is refused before anything is spent.
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    issuer.reset_stats();
    let out = run(args(&[
        "receive",
        &created.offer_url,
        "--dangerous-allow-http",
    ]))
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("key attestation"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(count(&issuer, "/token"), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The QR code image of an issuer's offer page (`GET offer_page_url`): the
/// PNG of its `<img id="offer-qr">`.
async fn offer_page_qr_png(created: &CreatedOffer) -> Vec<u8> {
    let page = reqwest::get(&created.offer_page_url).await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let src = attribute(&html, "id=\"offer-qr\"", "src");
    let b64 = src.strip_prefix("data:image/png;base64,").unwrap();
    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).unwrap()
}

#[tokio::test]
async fn inspect_and_receive_read_the_offer_from_the_offer_page_qr_code() {
    let issuer = default_issuer().await;
    let dir = std::env::temp_dir().join(format!("oid4vci-cli-qr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    // inspect --qr: by value, nothing spent.
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    let qr = dir.join("by-value.png");
    std::fs::write(&qr, offer_page_qr_png(&created).await).unwrap();
    let qr = qr.to_str().unwrap().to_string();
    let out = run(args(&[
        "inspect",
        "--qr",
        &qr,
        "--dangerous-allow-http",
        "--json",
    ]))
    .await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["offer"]["by_reference"], false);
    assert_eq!(json["credential_issuer"], issuer.issuer_id());
    assert_nothing_spent(&issuer);

    // receive --qr: by reference with a transaction code; fetched once.
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], true, true, false));
    let qr = dir.join("by-reference.png");
    std::fs::write(&qr, offer_page_qr_png(&created).await).unwrap();
    let out = run(args(&[
        "receive",
        "--qr",
        qr.to_str().unwrap(),
        "--tx-code",
        created.tx_code.as_deref().unwrap(),
        "--dangerous-allow-http",
        "--json",
    ]))
    .await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["credentials"][0]["credential_configuration_id"],
        "pid_sd_jwt"
    );
    assert_eq!(count(&issuer, "/offers/"), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn qr_errors_are_clear_and_spend_nothing() {
    let issuer = default_issuer().await;
    let dir = std::env::temp_dir().join(format!("oid4vci-cli-qr-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let not_an_image = dir.join("offer.png");
    std::fs::write(
        &not_an_image,
        "openid-credential-offer://?credential_offer_uri=x",
    )
    .unwrap();
    let blank = dir.join("blank.png");
    let mut png = Vec::new();
    let white = vec![255u8; 100 * 100];
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut png),
        &white,
        100,
        100,
        image::ExtendedColorType::L8,
    )
    .unwrap();
    std::fs::write(&blank, png).unwrap();
    let hello = dir.join("hello.png");
    let code = qrcode::QrCode::new("hello")
        .unwrap()
        .render::<image::Luma<u8>>()
        .build();
    code.save_with_format(&hello, image::ImageFormat::Png)
        .unwrap();
    let missing = dir.join("missing.jpg");
    for (file, expected) in [
        (&not_an_image, "not a PNG or JPEG image"),
        (&blank, "no QR code found in the image"),
        (&hello, "does not hold a credential offer URL"),
        (&missing, "missing.jpg: "),
    ] {
        for command in ["receive", "inspect"] {
            let out = run(args(&[
                command,
                "--qr",
                file.to_str().unwrap(),
                "--dangerous-allow-http",
            ]))
            .await;
            assert_eq!(out.status.code(), Some(1), "{command} {file:?}");
            let stderr = text(&out.stderr);
            assert!(
                stderr.contains(&format!("--qr {}", file.display())) && stderr.contains(expected),
                "{command} {file:?}: {stderr}"
            );
            assert!(out.stdout.is_empty());
        }
    }
    assert!(issuer.stats().is_empty(), "{:?}", issuer.stats());

    // Exactly one of OFFER_URL and --qr (and for inspect: or --issuer).
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    let qr = hello.to_str().unwrap();
    for usage in [
        vec!["receive"],
        vec!["receive", &created.offer_url, "--qr", qr],
        vec!["inspect", &created.offer_url, "--qr", qr],
        vec!["inspect", "--qr", qr, "--issuer", "https://issuer.example"],
    ] {
        let out = run(args(&usage)).await;
        assert_eq!(
            out.status.code(),
            Some(2),
            "{usage:?}: {}",
            text(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--trace`: every request and response of a full issuance on stderr, and
/// not one secret the issuer handed out (codes, tokens, nonces, the
/// tx_code), nor the credential's claims.
#[tokio::test]
async fn the_wire_trace_shows_every_endpoint_and_no_secret() {
    let issuer = start(Issuer::builder().require_dpop(true).dpop_nonce(true)).await;
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], true, true, false));
    let tx = created.tx_code.clone().unwrap();
    let out = run(args(&[
        "--trace",
        "receive",
        &created.offer_url,
        "--tx-code",
        &tx,
        "--dangerous-allow-http",
        "--json",
    ]))
    .await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for endpoint in [
        "/offers/",
        "/.well-known/openid-credential-issuer",
        "/.well-known/oauth-authorization-server",
        "/token",
        "/nonce",
        "/credential",
    ] {
        assert!(
            stderr.contains(&format!("> GET {}", issuer.base_url()))
                || stderr.contains(&format!("> POST {}", issuer.base_url())),
            "{stderr}"
        );
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with('>') && l.contains(endpoint))
                && stderr
                    .lines()
                    .any(|l| l.starts_with('<') && l.contains(endpoint)),
            "{endpoint} request and response in the trace:\n{stderr}"
        );
    }
    assert!(
        stderr.contains("use_dpop_nonce"),
        "the challenge is visible"
    );
    let secrets = issuer.secrets_issued();
    assert!(!secrets.is_empty());
    for secret in secrets.iter().chain([&tx]) {
        assert!(
            !stderr.contains(secret.as_str()),
            "a secret in the trace:\n{stderr}"
        );
    }
    assert!(!stderr.contains("Mustermann"), "no claim of the credential");
    assert!(!stderr.contains('\u{1b}'));
}
