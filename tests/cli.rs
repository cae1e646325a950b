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
