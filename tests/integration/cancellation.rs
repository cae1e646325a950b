//! Cancellation: dropping the future of `resolve_offer`, `authorize`,
//! `request_credential` or `poll_until_ready` (a `tokio::time::timeout`, a
//! `tokio::select!`, a dropped task: what a Kotlin coroutine cancellation
//! does through UniFFI) returns at once and abandons the request in flight:
//! the wallet closes its connection, so the issuer never handles a request it
//! had not handled yet. Proven at the other end: against an issuer whose every
//! answer waits (`Issuer::builder().latency`) by its request counters, and
//! through a relay in front of a fast issuer (a slow network that can be
//! switched off) that sees the wallet close the connection it holds.
//!
//! What was saved before a cancelled call finishes the issuance afterwards,
//! unless the issuer had already handled the request when the wallet gave up
//! (the cancel raced the answer): a pre-authorized code is then spent, and a
//! credential issued that the wallet never received. The tests show both.
//!
//! A `CancelToken` on `DeferredPending::poll_until_ready` stops the wait
//! between polls at once, but not a poll in flight: that one runs until the
//! issuer answers (at most the whole-request timeout).
//!
//! Measured bounds are printed (`--nocapture`).

use crate::common::*;
use oid4vci_wallet::{
    Authorized, CancelToken, DeferredPending, Error, ErrorCode, Grant, HttpClient, HttpRequest,
    Issuance, PreAuthorizedStep, ReqwestClient, ReqwestConfig, ResolvedOffer, SoftwareSigner,
    Wallet,
};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// When the app gives up on a call.
const CANCEL_AFTER: Duration = Duration::from_millis(200);
/// How late after `CANCEL_AFTER` a dropped call may return.
const RETURN_BOUND: Duration = Duration::from_millis(300);
/// How long after the cancel the other end may see the connection closed.
const CLOSE_BOUND: Duration = Duration::from_secs(1);
/// How long the relay holds a request or an answer (far beyond the cancel).
const HOLD: Duration = Duration::from_secs(5);

// --- a slow network in front of a fast issuer ---------------------------------

/// What the relay holds back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hold {
    /// The request: the issuer sees nothing until the hold ends.
    Request,
    /// The answer: the request goes through at once, the issuer handles it,
    /// and its answer waits in the relay.
    Answer,
}

/// A wallet connection the relay saw closed while it held it.
#[derive(Debug, Clone, Copy)]
struct Closed {
    at: Instant,
    /// Whether the issuer had answered by then (only with [`Hold::Answer`]).
    answered: bool,
}

#[derive(Default)]
struct RelayLog {
    closed: Mutex<Vec<Closed>>,
    /// Connections passed on to the issuer.
    forwarded: AtomicUsize,
}

/// A TCP relay to the issuer that holds each connection for `hold` (as set
/// when the connection arrives), watching for the wallet to close it.
struct Relay {
    base: String,
    mode: Arc<Mutex<(Hold, Duration)>>,
    log: Arc<RelayLog>,
}

impl Relay {
    async fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mode = Arc::new(Mutex::new((Hold::Request, HOLD)));
        let log = Arc::new(RelayLog::default());
        let (m, l) = (mode.clone(), log.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (hold, duration) = *m.lock().unwrap();
                tokio::spawn(relay(client, upstream, hold, duration, l.clone()));
            }
        });
        Relay { base, mode, log }
    }

    fn closed(&self) -> Vec<Closed> {
        self.log.closed.lock().unwrap().clone()
    }

    fn forwarded(&self) -> usize {
        self.log.forwarded.load(Ordering::SeqCst)
    }

    /// Waits (at most `CLOSE_BOUND` after `cancelled`, plus a margin to
    /// report a miss precisely) for the wallet to close a held connection.
    async fn wait_closed(&self, cancelled: Instant) -> Closed {
        let give_up = cancelled + CLOSE_BOUND * 3;
        loop {
            if let Some(closed) = self.closed().first() {
                return *closed;
            }
            assert!(
                Instant::now() < give_up,
                "the wallet did not close the connection the relay held within {:?} of the cancel \
                 (the request is still in flight)",
                CLOSE_BOUND * 3
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

async fn relay(
    mut client: TcpStream,
    upstream: SocketAddr,
    hold: Hold,
    duration: Duration,
    log: Arc<RelayLog>,
) {
    let deadline = tokio::time::sleep(duration);
    tokio::pin!(deadline);
    let mut buf = vec![0u8; 16 * 1024];
    let closed = |answered| {
        log.closed.lock().unwrap().push(Closed {
            at: Instant::now(),
            answered,
        })
    };
    let mut upstream_conn = match hold {
        Hold::Request => {
            let mut request = Vec::new();
            loop {
                tokio::select! {
                    _ = &mut deadline => break,
                    n = client.read(&mut buf) => match n {
                        Ok(0) | Err(_) => return closed(false),
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    },
                }
            }
            let Ok(mut up) = TcpStream::connect(upstream).await else {
                return;
            };
            log.forwarded.fetch_add(1, Ordering::SeqCst);
            if up.write_all(&request).await.is_err() {
                return;
            }
            up
        }
        Hold::Answer => {
            let Ok(mut up) = TcpStream::connect(upstream).await else {
                return;
            };
            log.forwarded.fetch_add(1, Ordering::SeqCst);
            let mut answer = Vec::new();
            let mut up_buf = vec![0u8; 16 * 1024];
            let mut up_open = true;
            loop {
                tokio::select! {
                    _ = &mut deadline => break,
                    n = client.read(&mut buf) => match n {
                        Ok(0) | Err(_) => return closed(!answer.is_empty()),
                        Ok(n) => {
                            if up.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    },
                    n = up.read(&mut up_buf), if up_open => match n {
                        Ok(0) | Err(_) => up_open = false,
                        Ok(n) => answer.extend_from_slice(&up_buf[..n]),
                    },
                }
            }
            if client.write_all(&answer).await.is_err() {
                return;
            }
            up
        }
    };
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream_conn).await;
}

/// The wallet's transport: the SDK's own `ReqwestClient`, with the requests
/// to one endpoint of the issuer (while [`Link::slow`] is on) sent through
/// the relay, as if the network were slow just then.
#[derive(Clone)]
struct Link {
    issuer_base: String,
    relay_base: String,
    route: Arc<Mutex<Option<String>>>,
    relay: Arc<Relay>,
}

impl Link {
    async fn to(issuer: &RunningIssuer) -> Link {
        let relay = Relay::start(issuer.addr()).await;
        Link {
            issuer_base: issuer.base_url(),
            relay_base: relay.base.clone(),
            route: Arc::new(Mutex::new(None)),
            relay: Arc::new(relay),
        }
    }

    /// From now on, requests to `path` (the URL path, e.g. `/token`) go
    /// through the relay, which holds each for `duration`.
    fn slow(&self, path: &str, hold: Hold, duration: Duration) {
        *self.relay.mode.lock().unwrap() = (hold, duration);
        *self.route.lock().unwrap() = Some(path.to_string());
    }

    /// Every request goes to the issuer directly again.
    fn fast(&self) {
        *self.route.lock().unwrap() = None;
    }

    /// A wallet on this link.
    fn wallet(&self) -> Wallet {
        let http = Arc::new(
            ReqwestClient::new(ReqwestConfig {
                allow_http: true,
                ..ReqwestConfig::default()
            })
            .unwrap(),
        );
        let link = self.clone();
        Wallet::builder()
            .client_id("test-wallet")
            .dangerous_allow_http()
            .http_client(move |mut request: HttpRequest| {
                let http = http.clone();
                let route = link.route.lock().unwrap().clone();
                let relayed = match (route, request.url.strip_prefix(&link.issuer_base)) {
                    (Some(route), Some(rest)) if rest.split(['?', '#']).next() == Some(&route) => {
                        Some(format!("{}{rest}", link.relay_base))
                    }
                    _ => None,
                };
                if let Some(url) = relayed {
                    request.url = url;
                }
                async move { http.send(request).await }
            })
            .build()
            .unwrap()
    }
}

// --- helpers -------------------------------------------------------------------------

/// Requests the issuer handled at exactly `path`.
fn hits(issuer: &RunningIssuer, path: &str) -> u64 {
    issuer.stats().get(path).copied().unwrap_or(0)
}

/// Runs `call` until `CANCEL_AFTER`, then drops it (it must not finish
/// first). Returns when it was dropped; asserts it returned within the bound.
async fn cancel<T: std::fmt::Debug>(
    what: &str,
    call: impl std::future::Future<Output = T>,
) -> Instant {
    let started = Instant::now();
    let result = tokio::time::timeout(CANCEL_AFTER, call).await;
    let returned = started.elapsed();
    assert!(
        result.is_err(),
        "{what} finished before the cancel: {result:?}"
    );
    eprintln!("{what}: dropped after {CANCEL_AFTER:?}, returned after {returned:?}");
    assert!(
        returned < CANCEL_AFTER + RETURN_BOUND,
        "{what}: the dropped call returned after {returned:?}"
    );
    Instant::now()
}

/// Asserts the relay saw the wallet close the held connection within the
/// bound, and returns what it saw.
async fn assert_abandoned(what: &str, link: &Link, cancelled: Instant) -> Closed {
    let closed = link.relay.wait_closed(cancelled).await;
    let after = closed.at.saturating_duration_since(cancelled);
    eprintln!("{what}: the connection in flight was closed {after:?} after the cancel");
    assert!(
        after < CLOSE_BOUND,
        "{what}: closed only {after:?} after the cancel"
    );
    assert_eq!(link.relay.closed().len(), 1, "{what}: one connection held");
    closed
}

fn pre_authorized(resolved: &ResolvedOffer) -> PreAuthorizedStep {
    match resolved.grant().unwrap() {
        Grant::PreAuthorized(step) => step,
        other => panic!("expected the pre-authorized grant, got {other:?}"),
    }
}

fn assert_pid(credential: &oid4vci_wallet::IssuedCredential) {
    assert!(credential.signature_verified);
    assert_eq!(credential.claims.as_ref().unwrap()["given_name"], "Erika");
}

/// A deferred transaction at `issuer` through `wallet`.
async fn deferred(issuer: &RunningIssuer, wallet: &Wallet) -> DeferredPending {
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, true));
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let mut authorized = pre_authorized(&resolved).authorize(wallet).await.unwrap();
    match authorized
        .request_credential(wallet, "pid_sd_jwt", &SoftwareSigner::generate())
        .await
        .unwrap()
    {
        Issuance::Deferred(pending) => pending,
        Issuance::Issued(_) => panic!("expected deferred issuance"),
    }
}

// --- against an issuer that answers slowly --------------------------------------------

#[tokio::test]
async fn a_dropped_resolve_offer_never_reaches_a_slow_issuer_and_the_wallet_resolves_again() {
    const LATENCY: Duration = Duration::from_millis(1500);
    let issuer = start(Issuer::builder().latency(LATENCY)).await;
    let metadata = "/.well-known/openid-credential-issuer";
    // An offer by value: resolving it starts with the issuer's metadata.
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    let wallet = wallet();
    // The control: the same request, not cancelled, is counted once answered.
    let control = tokio::spawn(reqwest::get(format!("{}{metadata}", issuer.base_url())));

    let started = Instant::now();
    tokio::select! {
        result = wallet.resolve_offer(&created.offer_url) => {
            panic!("resolved through a {LATENCY:?} latency after {:?}: {result:?}", started.elapsed())
        }
        _ = tokio::time::sleep(CANCEL_AFTER) => {}
    }
    let returned = started.elapsed();
    eprintln!("resolve_offer (select!): returned {returned:?} after the start");
    assert!(
        returned < CANCEL_AFTER + RETURN_BOUND,
        "returned after {returned:?}"
    );

    // By the time the control is answered, the wallet's request, sent at the
    // same moment, would have been handled too.
    assert_eq!(control.await.unwrap().unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stats = issuer.stats();
    assert_eq!(
        hits(&issuer, metadata),
        1,
        "the control only: the dropped request was handled all the same: {stats:?}"
    );
    assert_eq!(stats.values().sum::<u64>(), 1, "{stats:?}");

    // The same wallet (its connection pool lost a connection) resolves the
    // same offer when it waits.
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    assert_eq!(resolved.credentials()[0].id, "pid_sd_jwt");
    assert_eq!(hits(&issuer, metadata), 2);
}

// --- a slow network in front of a fast issuer -------------------------------------------

#[tokio::test]
async fn a_dropped_token_request_spends_nothing_and_the_saved_step_finishes() {
    let issuer = default_issuer().await;
    let link = Link::to(&issuer).await;
    let wallet = link.wallet();
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], true, false, false));
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let step = pre_authorized(&resolved).with_tx_code(created.tx_code.unwrap());
    let saved = step.to_json().unwrap();

    link.slow("/token", Hold::Request, HOLD);
    let cancelled = cancel("authorize", step.authorize(&wallet)).await;
    let closed = assert_abandoned("authorize", &link, cancelled).await;
    assert!(!closed.answered);
    assert_eq!(link.relay.forwarded(), 0);
    assert_eq!(hits(&issuer, "/token"), 0, "{:?}", issuer.stats());

    // The network is back: the step saved before the call (or the one in
    // memory) redeems the code, which was never spent.
    link.fast();
    let restored = PreAuthorizedStep::from_json(&saved).unwrap();
    let mut authorized = restored.authorize(&wallet).await.unwrap();
    let credential = one_credential(&mut authorized, &wallet, "pid_sd_jwt").await;
    assert_pid(&credential);
    assert_eq!(hits(&issuer, "/token"), 1);
    // Nothing the relay held ever reached the issuer.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(link.relay.forwarded(), 0);
}

#[tokio::test]
async fn a_token_request_dropped_after_the_issuer_answered_has_spent_the_code() {
    let issuer = default_issuer().await;
    let link = Link::to(&issuer).await;
    let wallet = link.wallet();
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let step = pre_authorized(&resolved);
    let saved = step.to_json().unwrap();

    // The issuer handles the request at once; only its answer is slow.
    link.slow("/token", Hold::Answer, HOLD);
    let cancelled = cancel("authorize", step.authorize(&wallet)).await;
    let closed = assert_abandoned("authorize", &link, cancelled).await;
    assert!(closed.answered, "the issuer had answered before the cancel");
    assert_eq!(hits(&issuer, "/token"), 1);

    // The single-use code went with the lost answer: retrying fails, with the
    // issuer's invalid_grant. Only a new offer helps.
    link.fast();
    let err = PreAuthorizedStep::from_json(&saved)
        .unwrap()
        .authorize(&wallet)
        .await
        .unwrap_err();
    assert_eq!(
        err.server_error().map(|e| &e.code),
        Some(&ErrorCode::InvalidGrant),
        "{err}"
    );
    assert_eq!(hits(&issuer, "/token"), 2);
}

#[tokio::test]
async fn a_dropped_credential_request_issues_nothing_and_the_session_finishes() {
    let issuer = default_issuer().await;
    let link = Link::to(&issuer).await;
    let wallet = link.wallet();
    let (_, mut authorized) = pre_authorized_session(&issuer, &wallet, &["pid_sd_jwt"]).await;
    let saved = authorized.to_json().unwrap();
    let signer = SoftwareSigner::generate();

    link.slow("/credential", Hold::Request, HOLD);
    let cancelled = cancel(
        "request_credential",
        authorized.request_credential(&wallet, "pid_sd_jwt", &signer),
    )
    .await;
    let closed = assert_abandoned("request_credential", &link, cancelled).await;
    assert!(!closed.answered);
    assert_eq!(hits(&issuer, "/credential"), 0, "{:?}", issuer.stats());

    // The network is back: the session the cancelled call had borrowed goes
    // on, and so does the one saved before the call.
    link.fast();
    match authorized
        .request_credential(&wallet, "pid_sd_jwt", &signer)
        .await
        .unwrap()
    {
        Issuance::Issued(list) => assert_pid(&list[0]),
        Issuance::Deferred(_) => panic!("expected immediate issuance"),
    }
    let mut restored = Authorized::from_json(&saved).unwrap();
    assert_pid(&one_credential(&mut restored, &wallet, "pid_sd_jwt").await);
    assert_eq!(hits(&issuer, "/credential"), 2);
    assert_eq!(link.relay.forwarded(), 0);
}

#[tokio::test]
async fn a_credential_request_dropped_after_the_issuer_answered_loses_that_credential() {
    let issuer = default_issuer().await;
    let link = Link::to(&issuer).await;
    let wallet = link.wallet();
    let (_, mut authorized) = pre_authorized_session(&issuer, &wallet, &["pid_sd_jwt"]).await;
    let signer = SoftwareSigner::generate();

    link.slow("/credential", Hold::Answer, HOLD);
    let cancelled = cancel(
        "request_credential",
        authorized.request_credential(&wallet, "pid_sd_jwt", &signer),
    )
    .await;
    let closed = assert_abandoned("request_credential", &link, cancelled).await;
    assert!(closed.answered, "the issuer had answered before the cancel");
    assert_eq!(hits(&issuer, "/credential"), 1);

    // Asking again gets a second credential: the issuer issued two, the
    // wallet holds one.
    link.fast();
    assert_pid(&one_credential(&mut authorized, &wallet, "pid_sd_jwt").await);
    assert_eq!(hits(&issuer, "/credential"), 2);
}

// --- deferred waits --------------------------------------------------------------------

#[tokio::test]
async fn a_cancel_token_stops_the_wait_between_polls_at_once_and_the_transaction_goes_on() {
    let issuer = start(
        Issuer::builder()
            .deferred_pending_polls(1)
            .deferred_interval(1),
    )
    .await;
    let wallet = wallet();
    let mut pending = deferred(&issuer, &wallet).await;
    let cancel = CancelToken::new();
    let trigger = cancel.clone();
    let cancelled_at = Arc::new(Mutex::new(None));
    let at = cancelled_at.clone();
    tokio::spawn(async move {
        tokio::time::sleep(CANCEL_AFTER).await;
        *at.lock().unwrap() = Some(Instant::now());
        trigger.cancel();
    });
    let err = pending
        .poll_until_ready(&wallet, Duration::from_secs(60), Some(&cancel))
        .await
        .unwrap_err();
    let after = cancelled_at.lock().unwrap().unwrap().elapsed();
    eprintln!("poll_until_ready: Cancelled {after:?} after the cancel (between polls)");
    assert!(matches!(err, Error::Cancelled), "{err}");
    assert!(after < RETURN_BOUND, "returned {after:?} after the cancel");
    assert_eq!(hits(&issuer, "/deferred"), 0, "no poll was sent");

    // The token stays cancelled; the transaction does not: a new wait (or
    // the transaction saved and restored) goes on.
    let err = pending
        .poll_until_ready(&wallet, Duration::from_secs(60), Some(&cancel))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
    let mut restored = DeferredPending::from_json(&pending.to_json().unwrap()).unwrap();
    let credentials = restored
        .poll_until_ready(&wallet, Duration::from_secs(20), Some(&CancelToken::new()))
        .await
        .unwrap();
    assert_pid(&credentials[0]);
}

#[tokio::test]
async fn dropping_poll_until_ready_abandons_the_poll_in_flight_and_the_transaction_goes_on() {
    let issuer = start(
        Issuer::builder()
            .deferred_pending_polls(1)
            .deferred_interval(1),
    )
    .await;
    let link = Link::to(&issuer).await;
    let wallet = link.wallet();
    let mut pending = deferred(&issuer, &wallet).await;

    // The first poll goes out after the interval (1 s); the app gives up
    // 200 ms into it.
    link.slow("/deferred", Hold::Request, HOLD);
    let started = Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(1) + CANCEL_AFTER,
        pending.poll_until_ready(&wallet, Duration::from_secs(60), None),
    )
    .await;
    assert!(result.is_err(), "{result:?}");
    let cancelled = Instant::now();
    eprintln!(
        "poll_until_ready: dropped mid-poll, returned {:?} after the start",
        started.elapsed()
    );
    assert_abandoned("poll_until_ready", &link, cancelled).await;
    assert_eq!(hits(&issuer, "/deferred"), 0);

    link.fast();
    let credentials = pending
        .poll_until_ready(&wallet, Duration::from_secs(20), None)
        .await
        .unwrap();
    assert_pid(&credentials[0]);
    assert_eq!(hits(&issuer, "/deferred"), 2, "pending once, then issued");
}

/// A `CancelToken` that fires while a poll is in flight stops it within the
/// bound too: the poll's connection is closed before the issuer sees it.
#[tokio::test]
async fn a_cancel_token_stops_a_poll_in_flight_within_the_bound() {
    let issuer = start(
        Issuer::builder()
            .deferred_pending_polls(1000)
            .deferred_interval(1),
    )
    .await;
    let link = Link::to(&issuer).await;
    let wallet = link.wallet();
    let mut pending = deferred(&issuer, &wallet).await;
    link.slow("/deferred", Hold::Request, HOLD);
    let cancel = CancelToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1) + CANCEL_AFTER).await;
        trigger.cancel();
    });
    let started = Instant::now();
    let err = pending
        .poll_until_ready(&wallet, Duration::from_secs(60), Some(&cancel))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
    let cancelled = started + Duration::from_secs(1) + CANCEL_AFTER;
    assert!(
        started.elapsed() < Duration::from_secs(1) + CANCEL_AFTER + RETURN_BOUND,
        "returned {:?} after the start",
        started.elapsed()
    );
    assert_abandoned("poll_until_ready (token)", &link, cancelled).await;
    assert_eq!(hits(&issuer, "/deferred"), 0);
}
