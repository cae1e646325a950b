//! A loopback redirect listener for desktop and command-line wallets
//! (RFC 8252 section 7.3): the authorization server redirects the system
//! browser to `http://127.0.0.1:PORT/callback?code=...&state=...`, and this
//! listener hands that URL to [`crate::PendingAuthorization::complete`].
//!
//! ```no_run
//! # async fn demo(wallet: &oid4vci_wallet::Wallet, step: oid4vci_wallet::AuthorizationCodeStep) -> oid4vci_wallet::Result<()> {
//! use oid4vci_wallet::LoopbackRedirect;
//! use std::time::Duration;
//! let listener = LoopbackRedirect::bind().await?;
//! let pending = step.authorization_url(wallet, listener.redirect_uri()).await?;
//! println!("open {}", pending.url());
//! let redirect = listener.wait(Duration::from_secs(300)).await?;
//! let authorized = pending.complete(wallet, &redirect).await?;
//! # Ok(()) }
//! ```

use crate::error::{Error, Result};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The path the listener expects the redirect on.
pub(crate) const CALLBACK_PATH: &str = "/callback";
/// The largest request head read from the browser.
const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// How long one browser connection may take to send its request.
const PER_CONNECTION: Duration = Duration::from_secs(10);

const DONE_PAGE: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Authorization complete</title></head><body><h1>Authorization complete</h1>\
<p>You can close this window and return to the wallet.</p></body></html>";

/// A one-shot HTTP listener on 127.0.0.1 for the authorization redirect.
#[derive(Debug)]
pub struct LoopbackRedirect {
    listener: TcpListener,
    redirect_uri: String,
}

impl LoopbackRedirect {
    /// Listens on an ephemeral port of 127.0.0.1.
    pub async fn bind() -> Result<Self> {
        Self::bind_port(0).await
    }

    /// Listens on a given port of 127.0.0.1 (0: any free port), for
    /// authorization servers that register a fixed redirect URI.
    pub async fn bind_port(port: u16) -> Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| Error::Config(format!("cannot listen on 127.0.0.1:{port}: {e}")))?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::Config(format!("loopback listener: {e}")))?
            .port();
        Ok(Self {
            listener,
            redirect_uri: format!("http://127.0.0.1:{port}{CALLBACK_PATH}"),
        })
    }

    /// `http://127.0.0.1:PORT/callback`: use it as the `redirect_uri`.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Waits for the browser's request to the callback path, answers it with
    /// a short page, and returns the full redirect URL. Requests to other
    /// paths (a browser's `/favicon.ico`) get a 404 and the wait goes on.
    /// Ends with [`Error::DeadlineExceeded`] after `timeout`.
    pub async fn wait(self, timeout: Duration) -> Result<String> {
        tokio::time::timeout(timeout, self.accept_callback())
            .await
            .map_err(|_| Error::DeadlineExceeded)?
    }

    async fn accept_callback(&self) -> Result<String> {
        loop {
            let (mut stream, _) = self
                .listener
                .accept()
                .await
                .map_err(|e| Error::Config(format!("loopback listener: {e}")))?;
            let target = match tokio::time::timeout(PER_CONNECTION, read_target(&mut stream)).await
            {
                Ok(Some(target)) => target,
                _ => {
                    let _ = respond(&mut stream, "400 Bad Request", "bad request").await;
                    continue;
                }
            };
            let path = target.split('?').next().unwrap_or_default();
            if path != CALLBACK_PATH {
                let _ = respond(&mut stream, "404 Not Found", "not found").await;
                continue;
            }
            let _ = respond(&mut stream, "200 OK", DONE_PAGE).await;
            let base = self
                .redirect_uri
                .strip_suffix(CALLBACK_PATH)
                .unwrap_or(&self.redirect_uri);
            return Ok(format!("{base}{target}"));
        }
    }
}

/// Reads the request head and returns the target of a `GET` request line.
async fn read_target(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 || head.len() + n > MAX_REQUEST_HEAD {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|b| *b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("GET"), Some(target), Some(version))
            if target.starts_with('/') && version.starts_with("HTTP/1.") =>
        {
            Some(target.to_string())
        }
        _ => None,
    }
}

async fn respond(stream: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\n\
         content-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(addr: &str, target: &str) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("GET {target} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn returns_the_callback_url_and_ignores_other_paths() {
        let listener = LoopbackRedirect::bind().await.unwrap();
        let uri = listener.redirect_uri().to_string();
        let addr = uri
            .trim_start_matches("http://")
            .trim_end_matches(CALLBACK_PATH)
            .to_string();
        let waiter = tokio::spawn(listener.wait(Duration::from_secs(10)));
        assert!(get(&addr, "/favicon.ico").await.starts_with("HTTP/1.1 404"));
        let page = get(&addr, "/callback?code=c&state=s").await;
        assert!(page.starts_with("HTTP/1.1 200") && page.contains("close this window"));
        assert_eq!(
            waiter.await.unwrap().unwrap(),
            format!("{uri}?code=c&state=s")
        );
    }

    #[tokio::test]
    async fn times_out() {
        let listener = LoopbackRedirect::bind().await.unwrap();
        let err = listener.wait(Duration::from_millis(50)).await.unwrap_err();
        assert!(matches!(err, Error::DeadlineExceeded));
    }
}
