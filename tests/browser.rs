//! The authorization code flow with a real headless browser (Chromium driven
//! over WebDriver): the SDK builds the authorization URL, the browser signs in
//! at the reference issuer's login page and consents, the redirect lands on
//! the SDK's loopback listener, and the credential is issued.
//!
//! Needs `chromedriver` and `chromium` (Debian packages `chromium-driver` and
//! `chromium`, installed by `.ci/run`). Without them the test says so and
//! passes, unless `OID4VCI_REQUIRE_BROWSER=1` (set by `.ci/run`) makes their
//! absence a failure.

mod common;

use common::*;
use fantoccini::{ClientBuilder, Locator};
use oid4vci_wallet::loopback::LoopbackRedirect;
use oid4vci_wallet::{Grant, Issuance, SoftwareSigner};
use std::process::Stdio;
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

#[tokio::test]
async fn a_headless_browser_logs_in_and_the_redirect_reaches_the_loopback_listener() {
    let Some(driver_program) = find_program("chromedriver") else {
        assert!(
            std::env::var_os("OID4VCI_REQUIRE_BROWSER").is_none(),
            "chromedriver is not installed but OID4VCI_REQUIRE_BROWSER is set"
        );
        eprintln!("SKIPPED: chromedriver not found (apt-get install chromium chromium-driver)");
        return;
    };
    let mut driver = chromedriver(&driver_program).await;

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

    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--no-first-run"]
        }),
    );
    let browser = ClientBuilder::rustls()
        .expect("TLS roots")
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session");
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
