//! The authorization code flow with a real headless browser (Chromium driven
//! over WebDriver): the SDK builds the authorization URL, the browser signs in
//! at the reference issuer's login page and consents, the redirect lands on
//! the SDK's loopback listener, and the credential is issued. And the
//! cross-device start: the browser shows the issuer's offer page, and the CLI
//! receives the credential from a screenshot of its QR code.
//!
//! Needs `chromedriver` and `chromium` (Debian packages `chromium-driver` and
//! `chromium`, installed by `.ci/run`). Without them the test says so and
//! passes, unless `OID4VCI_REQUIRE_BROWSER=1` (set by `.ci/run`) makes their
//! absence a failure.

mod common;

use common::*;
use fantoccini::{ClientBuilder, Locator};
use oid4vci_wallet::LoopbackRedirect;
use oid4vci_wallet::{Grant, Issuance, SoftwareSigner};
use std::process::{Command, Stdio};
use std::time::Duration;

fn find_program(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| std::path::Path::new(dir).join(name))
        .find(|p| p.is_file())
}

/// A chromedriver on a free port; killed on drop.
struct Driver {
    child: tokio::process::Child,
    url: String,
}

async fn chromedriver(program: &std::path::Path) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = tokio::process::Command::new(program)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver starts");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

/// A chromedriver, or `None` when it is not installed (the test then says
/// so and passes, unless `OID4VCI_REQUIRE_BROWSER` is set).
async fn installed_chromedriver() -> Option<Driver> {
    let Some(driver_program) = find_program("chromedriver") else {
        assert!(
            std::env::var_os("OID4VCI_REQUIRE_BROWSER").is_none(),
            "chromedriver is not installed but OID4VCI_REQUIRE_BROWSER is set"
        );
        eprintln!("SKIPPED: chromedriver not found (apt-get install chromium chromium-driver)");
        return None;
    };
    Some(chromedriver(&driver_program).await)
}

/// A headless Chromium session (1024x768 at one device pixel per CSS pixel,
/// so a screenshot has the page's pixels).
async fn headless_chromium(driver: &Driver) -> fantoccini::Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--no-first-run",
                     "--window-size=1024,768", "--force-device-scale-factor=1"]
        }),
    );
    ClientBuilder::rustls()
        .expect("TLS roots")
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session")
}

#[tokio::test]
async fn a_headless_browser_logs_in_and_the_redirect_reaches_the_loopback_listener() {
    let Some(mut driver) = installed_chromedriver().await else {
        return;
    };

    let issuer = start(Issuer::builder().separate_authorization_server(true)).await;
    let created = issuer.create_offer(OfferRequest {
        authorization_code: Some(true),
        ..offer(&["pid_sd_jwt"], false, false, false)
    });
    let wallet = wallet();
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let Grant::AuthorizationCode(step) = resolved.grant().unwrap() else {
        panic!("expected the authorization code grant")
    };
    let listener = LoopbackRedirect::bind().await.unwrap();
    let pending = step
        .authorization_url(&wallet, listener.redirect_uri())
        .await
        .unwrap();
    let redirect = tokio::spawn(listener.wait(Duration::from_secs(60)));

    let browser = headless_chromium(&driver).await;
    let result = async {
        browser.goto(pending.url()).await?;
        let user = browser.wait().for_element(Locator::Id("username")).await?;
        user.send_keys("max").await?;
        browser
            .find(Locator::Id("password"))
            .await?
            .send_keys("max-password")
            .await?;
        browser.find(Locator::Id("login")).await?.click().await?;
        browser
            .wait()
            .for_element(Locator::Id("allow"))
            .await?
            .click()
            .await?;
        // The browser follows the 303 to the loopback listener's page.
        browser
            .wait()
            .for_element(Locator::XPath("//*[contains(text(), 'close this window')]"))
            .await?;
        browser.current_url().await
    }
    .await;
    let _ = browser.close().await;
    let _ = driver.child.kill().await;
    let landed = result.expect("the browser completes the login");
    assert!(
        landed.as_str().starts_with(pending.redirect_uri()),
        "{landed}"
    );

    let redirect = redirect.await.unwrap().expect("the redirect arrived");
    let mut authorized = pending.complete(&wallet, &redirect).await.unwrap();
    let Issuance::Issued(list) = authorized
        .request_credential(&wallet, "pid_sd_jwt", &SoftwareSigner::generate())
        .await
        .unwrap()
    else {
        panic!("expected immediate issuance")
    };
    let claims = list[0].claims.as_ref().unwrap();
    assert_eq!(claims["given_name"], "Max");
    assert!(list[0].signature_verified);
}

/// What the browser showed of an offer page.
struct OfferPageSeen {
    screenshot: Vec<u8>,
    link: Option<String>,
    source: String,
}

#[tokio::test]
async fn the_cli_receives_the_credential_from_a_screenshot_of_the_offer_page_qr_code() {
    let Some(mut driver) = installed_chromedriver().await else {
        return;
    };
    let issuer = default_issuer().await;
    // By reference, with a transaction code: the issuer's portal case.
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], true, true, false));
    let tx_code = created.tx_code.clone().expect("a transaction code");

    let browser = headless_chromium(&driver).await;
    let result = async {
        browser.goto(&created.offer_page_url).await?;
        browser.wait().for_element(Locator::Id("offer-qr")).await?;
        // The data: image is decoded before the screenshot is taken.
        for _ in 0..100 {
            let loaded = browser
                .execute(
                    "const i = document.getElementById('offer-qr'); \
                     return i.complete && i.naturalWidth > 0;",
                    vec![],
                )
                .await?;
            if loaded == serde_json::json!(true) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let link = browser
            .find(Locator::Id("offer-link"))
            .await?
            .attr("href")
            .await?;
        Ok::<_, fantoccini::error::CmdError>(OfferPageSeen {
            screenshot: browser.screenshot().await?,
            link,
            source: browser.source().await?,
        })
    }
    .await;
    let _ = browser.close().await;
    let _ = driver.child.kill().await;
    let seen = result.expect("the browser shows the offer page");
    assert_eq!(seen.link.as_deref(), Some(created.offer_url.as_str()));
    assert!(seen.source.contains("tx-code-hint"), "{}", seen.source);
    assert!(!seen.source.contains(&tx_code), "the page shows the code");
    assert!(seen.screenshot.starts_with(b"\x89PNG"), "a PNG screenshot");
    // Showing the page fetched nothing of the offer.
    assert_eq!(count(&issuer, "/offers/"), 0);

    let screenshot = std::env::temp_dir().join(format!(
        "oid4vci-offer-page-{}-{}.png",
        std::process::id(),
        issuer.addr().port()
    ));
    std::fs::write(&screenshot, &seen.screenshot).unwrap();
    let path = screenshot.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_oid4vci"))
            .arg("receive")
            .arg("--qr")
            .arg(&path)
            .args(["--tx-code", &tx_code, "--dangerous-allow-http", "--json"])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    std::fs::remove_file(&screenshot).ok();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(
        stderr.contains("read the offer URL from the QR code"),
        "{stderr}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON object");
    assert_eq!(json["credential_issuer"], issuer.issuer_id());
    // The CLI asks for the issuer's batch_size (3 here), each credential
    // bound to its own fresh key, in one credential request.
    let list = json["credentials"].as_array().unwrap();
    assert_eq!(list.len(), 3, "{json}");
    for credential in list {
        assert_eq!(credential["credential_configuration_id"], "pid_sd_jwt");
        assert_eq!(credential["format"], "dc+sd-jwt");
        assert!(credential["credential"].as_str().unwrap().contains('~'));
        assert_eq!(credential["claims"]["given_name"], "Erika");
        assert_eq!(credential["verification"]["status"], "verified");
    }
    let keys: std::collections::HashSet<String> = list
        .iter()
        .map(|c| c["holder_jwk"]["x"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys.len(), 3, "one fresh key per credential");
    // The QR code named the offer by reference: fetched once, by the CLI.
    assert_eq!(count(&issuer, "/offers/"), 1);
    assert_eq!(count(&issuer, "/credential"), 1);
}
