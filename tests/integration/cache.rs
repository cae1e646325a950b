//! The metadata cache over real HTTP: what a second issuance from the same
//! issuer asks the network for, as the issuer's `Cache-Control` and `ETag`
//! say (fresh, expired and revalidated, `no-store`, `no-cache`), and the
//! single refetch when a cached document turns out stale.

use crate::common::*;
use oid4vci_wallet::{
    Clock, Grant, InMemoryMetadataCache, Issuance, MetadataCache, Signer, SoftwareSigner,
    SystemClock, Wallet,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The system clock moved on by `offset` seconds (max-age expiry without
/// waiting).
#[derive(Clone, Default)]
struct Shifted(Arc<AtomicU64>);

impl Shifted {
    fn advance(&self, seconds: u64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for Shifted {
    fn now(&self) -> u64 {
        SystemClock.now() + self.0.load(Ordering::SeqCst)
    }
}

fn wallet_with(cache: Option<Arc<InMemoryMetadataCache>>, clock: Shifted) -> Wallet {
    let builder = Wallet::builder()
        .client_id("test-wallet")
        .dangerous_allow_http()
        .clock(clock);
    match cache {
        Some(cache) => builder.metadata_cache(cache),
        None => builder,
    }
    .build()
    .expect("wallet builds")
}

/// Requests the issuer answered (every path; not its counters).
fn requests(issuer: &RunningIssuer) -> u64 {
    issuer
        .stats()
        .iter()
        .filter(|(k, _)| k.starts_with('/'))
        .map(|(_, n)| *n)
        .sum()
}

fn not_modified(issuer: &RunningIssuer) -> u64 {
    issuer.stats().get("not_modified").copied().unwrap_or(0)
}

/// One pre-authorized issuance of `id` (offer by reference, tx_code), whose
/// SD-JWT signature must verify; returns the requests it made.
async fn issue(issuer: &RunningIssuer, wallet: &Wallet, id: &str) -> u64 {
    issuer.reset_stats();
    let created = issuer.create_offer(offer(&[id], true, true, false));
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
        .request_credential(wallet, id, &SoftwareSigner::generate())
        .await
        .unwrap()
    else {
        panic!("expected immediate issuance")
    };
    assert!(
        credentials[0].signature_verified,
        "{:?}",
        credentials[0].verification
    );
    requests(issuer)
}

#[tokio::test]
async fn a_warm_cache_saves_the_metadata_and_key_requests() {
    let issuer = start(Issuer::builder().cache_max_age(3600)).await;
    let wallet = wallet_with(None, Shifted::default());
    // Offer, issuer metadata, AS metadata, token, nonce, credential, key.
    assert_eq!(issue(&issuer, &wallet, "pid_sd_jwt").await, 7);
    // Offer, token, nonce, credential.
    assert_eq!(
        issue(&issuer, &wallet, "pid_sd_jwt").await,
        4,
        "{:?}",
        issuer.stats()
    );
    assert_eq!(count(&issuer, "well-known"), 0);
    // A clone of the wallet shares its cache.
    assert_eq!(issue(&issuer, &wallet.clone(), "pid_sd_jwt").await, 4);
}

#[tokio::test]
async fn without_cache_headers_or_with_the_cache_off_every_issuance_fetches_all() {
    // The reference issuer's default: `Cache-Control: no-store`.
    let issuer = default_issuer().await;
    let wallet = wallet_with(None, Shifted::default());
    assert_eq!(issue(&issuer, &wallet, "pid_sd_jwt").await, 7);
    assert_eq!(issue(&issuer, &wallet, "pid_sd_jwt").await, 7);

    let issuer = start(Issuer::builder().cache_max_age(3600)).await;
    let wallet = Wallet::builder()
        .dangerous_allow_http()
        .no_metadata_cache()
        .build()
        .unwrap();
    assert_eq!(issue(&issuer, &wallet, "pid_sd_jwt").await, 7);
    assert_eq!(issue(&issuer, &wallet, "pid_sd_jwt").await, 7);
    assert_eq!(not_modified(&issuer), 0);
}

#[tokio::test]
async fn no_store_is_never_cached() {
    let issuer = start(Issuer::builder().cache_control("no-store")).await;
    let cache = Arc::new(InMemoryMetadataCache::default());
    let wallet = wallet_with(Some(cache.clone()), Shifted::default());
    assert_eq!(issue(&issuer, &wallet, "pid_sd_jwt").await, 7);
    assert!(cache.is_empty());
    assert_eq!(issue(&issuer, &wallet, "pid_sd_jwt").await, 7);
    assert_eq!(
        not_modified(&issuer),
        0,
        "no If-None-Match without an entry"
    );
}

#[tokio::test]
async fn no_cache_revalidates_every_time() {
    let issuer = start(Issuer::builder().cache_control("no-cache")).await;
    let wallet = wallet_with(None, Shifted::default());
    assert_eq!(issue(&issuer, &wallet, "pid_sd_jwt").await, 7);
    assert_eq!(issue(&issuer, &wallet, "pid_sd_jwt").await, 7);
    // Issuer metadata, AS metadata and the key, each a 304.
    assert_eq!(not_modified(&issuer), 3);
}

#[tokio::test]
async fn an_expired_entry_is_revalidated_with_if_none_match_and_a_304_renews_it() {
    let issuer = start(Issuer::builder().cache_max_age(5)).await;
    let clock = Shifted::default();
    let wallet = wallet_with(None, clock.clone());
    assert_eq!(issue(&issuer, &wallet, "pid_sd_jwt").await, 7);
    assert_eq!(issue(&issuer, &wallet, "pid_sd_jwt").await, 4);
    clock.advance(10);
    assert_eq!(issue(&issuer, &wallet, "pid_sd_jwt").await, 7);
    assert_eq!(not_modified(&issuer), 3, "{:?}", issuer.stats());
    // Renewed for another max-age.
    assert_eq!(issue(&issuer, &wallet, "pid_sd_jwt").await, 4);
}

#[tokio::test]
async fn cached_metadata_without_the_offered_configuration_is_fetched_again_once() {
    let issuer = start(Issuer::builder().cache_max_age(3600)).await;
    let cache = Arc::new(InMemoryMetadataCache::default());
    let wallet = wallet_with(Some(cache.clone()), Shifted::default());
    assert_eq!(issue(&issuer, &wallet, "pid_sd_jwt").await, 7);

    // The cached copy predates a configuration the issuer now offers.
    let url = format!("{}/.well-known/openid-credential-issuer", issuer.base_url());
    let mut entry = cache.get(&url).expect("issuer metadata cached");
    let mut metadata: serde_json::Value = serde_json::from_slice(&entry.body).unwrap();
    metadata["credential_configurations_supported"]
        .as_object_mut()
        .unwrap()
        .remove("pid_sd_jwt");
    entry.body = metadata.to_string().into_bytes();
    entry.etag = None;
    cache.put(entry);

    // Offer, issuer metadata (refetched), token, nonce, credential.
    assert_eq!(issue(&issuer, &wallet, "pid_sd_jwt").await, 5);
    assert_eq!(count(&issuer, "openid-credential-issuer"), 1);
    // The refetched document replaced the stale one.
    assert_eq!(issue(&issuer, &wallet, "pid_sd_jwt").await, 4);

    // A configuration the issuer really does not have is refused after
    // the one refetch, not looped on.
    let mut entry = cache.get(&url).unwrap();
    entry.body = metadata.to_string().into_bytes();
    entry.etag = None;
    cache.put(entry);
    issuer.reset_stats();
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    let mut by_value: serde_json::Value = serde_json::from_str(
        &url::Url::parse(&created.offer_url)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "credential_offer")
            .unwrap()
            .1,
    )
    .unwrap();
    by_value["credential_configuration_ids"] = serde_json::json!(["no_such_configuration"]);
    let err = wallet
        .resolve_offer(&crate::common::by_value(&by_value))
        .await
        .unwrap_err();
    assert!(
        matches!(err, oid4vci_wallet::Error::InvalidOffer(_)),
        "{err}"
    );
    assert_eq!(count(&issuer, "openid-credential-issuer"), 1);
}

#[tokio::test]
async fn a_cached_issuer_key_that_does_not_verify_is_fetched_again_once() {
    let issuer = start(Issuer::builder().cache_max_age(3600)).await;
    let cache = Arc::new(InMemoryMetadataCache::default());
    let wallet = wallet_with(Some(cache.clone()), Shifted::default());
    assert_eq!(issue(&issuer, &wallet, "pid_sd_jwt").await, 7);

    // The issuer rotated its key since the cached copy.
    let url = format!("{}/.well-known/jwt-vc-issuer", issuer.base_url());
    let mut entry = cache.get(&url).expect("issuer keys cached");
    let mut keys: serde_json::Value = serde_json::from_slice(&entry.body).unwrap();
    let mut old = SoftwareSigner::generate().public_jwk();
    if let Some(kid) = keys["jwks"]["keys"][0].get("kid") {
        old["kid"] = kid.clone();
    }
    keys["jwks"]["keys"] = serde_json::json!([old]);
    entry.body = keys.to_string().into_bytes();
    entry.etag = None;
    cache.put(entry);

    // Offer, token, nonce, credential, the key (refetched).
    assert_eq!(issue(&issuer, &wallet, "pid_sd_jwt").await, 5);
    assert_eq!(count(&issuer, "jwt-vc-issuer"), 1);
    assert_eq!(issue(&issuer, &wallet, "pid_sd_jwt").await, 4);
}
