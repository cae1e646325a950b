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
    let list = json["credentials"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["credential_configuration_id"], "pid_sd_jwt");
    assert_eq!(list[0]["format"], "dc+sd-jwt");
    assert!(list[0]["credential"].as_str().unwrap().contains('~'));
    assert_eq!(list[1]["credential_configuration_id"], "membership_sd_jwt");
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
    assert!(stdout.contains("Personalausweis"), "{stdout}");
    assert!(stdout.contains("Vorname: Erika"), "{stdout}");
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
