//! Round trips on a phone's network: with every answer of the reference
//! issuer delayed by `LATENCY`, one fresh issuance (pre-authorized, offer by
//! reference, tx_code, the SD-JWT's signature checked) takes at least
//! `ROUND_TRIPS` latencies and less than one more, so its number of
//! sequential round trips is exactly `ROUND_TRIPS` (counts, not times: a
//! request added to or saved from the critical path flips it). The same
//! count as the `round_trips` group of benches/issuance.rs. A second
//! issuance by the same wallet, with the metadata and the issuer's key
//! cached, takes `WARM_ROUND_TRIPS`.

use crate::common::*;
use oid4vci_issuer::OfferRequest;
use oid4vci_wallet::{Grant, Issuance, SoftwareSigner, Wallet};
use std::time::{Duration, Instant};

/// Long enough that the CPU work of an unoptimised build and scheduling
/// noise stay well under one latency.
const LATENCY: Duration = Duration::from_millis(200);

/// Today's sequential round trips (7 requests): the offer
/// (`credential_offer_uri`), the issuer metadata, the authorization server
/// metadata, the token with the nonce beside it, and the credential with the
/// issuer's key (`/.well-known/jwt-vc-issuer`) beside it.
const ROUND_TRIPS: u32 = 5;

/// A second issuance by the same wallet from the same issuer, its metadata
/// and key cached (`Cache-Control: max-age`): the offer, the token with the
/// nonce beside it, and the credential (4 requests).
const WARM_ROUND_TRIPS: u32 = 3;

/// One issuance of `pid_sd_jwt` from a new by-reference offer: how long it
/// took and how many requests the issuer saw for it.
async fn timed_issuance(issuer: &RunningIssuer, wallet: &Wallet) -> (Duration, u64) {
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], true, true, false));
    let signer = SoftwareSigner::generate();
    let before: u64 = issuer.stats().values().sum();

    let started = Instant::now();
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let Grant::PreAuthorized(step) = resolved.grant().unwrap() else {
        panic!("expected the pre-authorized grant")
    };
    let mut authorized = step
        .with_tx_code(created.tx_code.unwrap())
        .authorize(wallet)
        .await
        .unwrap();
    let Issuance::Issued(credentials) = authorized
        .request_credential(wallet, "pid_sd_jwt", &signer)
        .await
        .unwrap()
    else {
        panic!("expected immediate issuance")
    };
    let elapsed = started.elapsed();

    assert_eq!(credentials.len(), 1);
    assert!(
        credentials[0].signature_verified,
        "{:?}",
        credentials[0].verification
    );
    let after: u64 = issuer.stats().values().sum();
    (elapsed, after - before)
}

/// Asserts `elapsed` is `round_trips` latencies and less than one more.
fn assert_round_trips(what: &str, elapsed: Duration, round_trips: u32, requests: u64) {
    assert!(
        elapsed >= LATENCY * round_trips && elapsed < LATENCY * (round_trips + 1),
        "{what} took {elapsed:.2?} at {LATENCY:?} per answer: {:.2} round trips, not \
         {round_trips} ({requests} requests)",
        elapsed.as_secs_f64() / LATENCY.as_secs_f64(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_pre_authorized_issuance_by_reference_takes_five_sequential_round_trips() {
    let issuer = start(Issuer::builder().latency(LATENCY)).await;
    let (elapsed, requests) = timed_issuance(&issuer, &wallet()).await;
    assert_eq!(requests, 7, "{:?}", issuer.stats());
    assert_round_trips("one fresh issuance", elapsed, ROUND_TRIPS, requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_issuance_from_the_same_issuer_takes_three_sequential_round_trips() {
    let issuer = start(Issuer::builder().latency(LATENCY).cache_max_age(3600)).await;
    let wallet = wallet();
    let (elapsed, requests) = timed_issuance(&issuer, &wallet).await;
    assert_round_trips("the first issuance", elapsed, ROUND_TRIPS, requests);
    let (elapsed, requests) = timed_issuance(&issuer, &wallet).await;
    assert_eq!(requests, 4, "{:?}", issuer.stats());
    assert_round_trips("the second issuance", elapsed, WARM_ROUND_TRIPS, requests);
}

/// An offer that names its authorization server (the authorization code
/// grant of an issuer whose AS runs apart): resolving it takes the offer,
/// then both metadata documents at once, so 2 round trips (3 requests)
/// instead of 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_naming_its_authorization_server_resolves_in_two_round_trips() {
    let issuer = start(
        Issuer::builder()
            .latency(LATENCY)
            .separate_authorization_server(true),
    )
    .await;
    let created = issuer.create_offer(OfferRequest {
        authorization_code: Some(true),
        ..offer(&["pid_sd_jwt"], false, true, false)
    });
    let wallet = wallet();

    let started = Instant::now();
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let elapsed = started.elapsed();

    assert_eq!(
        resolved.context().authorization_server.issuer,
        issuer.authorization_server()
    );
    assert_ne!(issuer.authorization_server(), issuer.issuer_id());
    let requests: u64 = issuer.stats().values().sum();
    assert_eq!(requests, 3, "{:?}", issuer.stats());
    assert_round_trips("resolving the offer", elapsed, 2, requests);
}
