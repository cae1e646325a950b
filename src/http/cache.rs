//! The metadata cache: issuer metadata, authorization server metadata and
//! issuer keys (JWT VC issuer metadata, `did:web` documents), kept as the
//! servers' `Cache-Control` and `ETag` allow.
//!
//! The engine marks which requests may be answered from it
//! ([`crate::flow::Flow::cacheable`]); the driver answers fresh entries
//! without a request, revalidates stale ones with `If-None-Match` (a `304`
//! renews the cached body) and stores what the rules below allow. A response
//! answered from the cache carries an `Age` header, so the engine can tell
//! and refetch once (with `Cache-Control: no-cache`) when a cached document
//! turns out stale.
//!
//! The rules (RFC 9111, for a private cache, without heuristics):
//! - only `200` responses to GETs are stored;
//! - `no-store` (or `Vary: *`): never stored, and a stored entry is dropped;
//! - `max-age=N`: fresh for N seconds, at most [`MAX_FRESHNESS`];
//! - without `max-age`, `Expires`: fresh until then (counted from the
//!   response's `Date`, or from its arrival without one), at most
//!   [`MAX_FRESHNESS`]; an `Expires` that is no date (e.g. `0`) means
//!   stale. `s-maxage` is for shared caches, and this one is private:
//!   ignored;
//! - `no-cache`, or no `Cache-Control` at all: stored only with an `ETag`,
//!   and then revalidated before every use (no heuristic freshness);
//! - a request with `Cache-Control: no-cache` is never answered without
//!   asking the server.

use super::{HttpRequest, HttpResponse};
use std::collections::HashMap;
use std::sync::Mutex;

/// The longest a cached document is used without asking the server, whatever
/// its `max-age` says: one day.
pub const MAX_FRESHNESS: u64 = 86_400;

/// One cached response.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CacheEntry {
    /// The URL fetched.
    pub url: String,
    /// The request headers that chose the representation (`accept`,
    /// `accept-language`): the entry answers only a request with the same.
    pub variant: String,
    /// The response body.
    pub body: Vec<u8>,
    /// The response's `Content-Type`.
    pub content_type: Option<String>,
    /// The response's `ETag` (sent back as `If-None-Match`).
    pub etag: Option<String>,
    /// When it was fetched or last revalidated (seconds since the epoch).
    pub stored_at: u64,
    /// Until when it may be used without asking the server.
    pub fresh_until: u64,
    /// Its `max-age` (0 without one), applied again when a `304` renews it
    /// without a `Cache-Control` of its own.
    pub max_age: u64,
}

impl CacheEntry {
    /// Whether it may be used at `now` without asking the server.
    pub fn is_fresh(&self, now: u64) -> bool {
        now < self.fresh_until
    }

    /// The response it stands for; with `age`, marked as answered from the
    /// cache.
    pub(crate) fn response(&self, age: Option<u64>) -> HttpResponse {
        let mut headers = Vec::new();
        if let Some(ct) = &self.content_type {
            headers.push(("content-type".to_string(), ct.clone()));
        }
        if let Some(etag) = &self.etag {
            headers.push(("etag".to_string(), etag.clone()));
        }
        if let Some(age) = age {
            headers.push(("age".to_string(), age.to_string()));
        }
        HttpResponse {
            status: 200,
            headers,
            body: self.body.clone(),
        }
    }

    /// The size it counts for in a bounded cache.
    fn size(&self) -> usize {
        self.body.len() + self.url.len() + self.variant.len() + 64
    }
}

/// Where the wallet keeps cached metadata. The default is in memory
/// ([`InMemoryMetadataCache`]); implement this to persist it (entries are
/// `Serialize`). Calls are quick and synchronous; an implementation may drop
/// entries at any time.
pub trait MetadataCache: Send + Sync {
    /// The entry for `url`, if any (fresh or not).
    fn get(&self, url: &str) -> Option<CacheEntry>;
    /// Stores (or replaces) the entry for `entry.url`.
    fn put(&self, entry: CacheEntry);
    /// Drops the entry for `url`.
    fn remove(&self, url: &str);
}

/// The default [`MetadataCache`]: in memory, bounded in entries and bytes
/// (the least recently stored go first).
#[derive(Debug)]
pub struct InMemoryMetadataCache {
    max_entries: usize,
    max_bytes: usize,
    entries: Mutex<HashMap<String, (u64, CacheEntry)>>,
    counter: std::sync::atomic::AtomicU64,
}

impl InMemoryMetadataCache {
    /// Default bound on entries.
    pub const DEFAULT_MAX_ENTRIES: usize = 64;
    /// Default bound on bytes.
    pub const DEFAULT_MAX_BYTES: usize = 2 * 1024 * 1024;

    /// A cache of at most `max_entries` entries and `max_bytes` bytes.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            max_entries,
            max_bytes,
            entries: Mutex::new(HashMap::new()),
            counter: Default::default(),
        }
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every entry.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, CacheEntry)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for InMemoryMetadataCache {
    fn default() -> Self {
        Self::new(Self::DEFAULT_MAX_ENTRIES, Self::DEFAULT_MAX_BYTES)
    }
}

impl MetadataCache for InMemoryMetadataCache {
    fn get(&self, url: &str) -> Option<CacheEntry> {
        self.lock().get(url).map(|(_, e)| e.clone())
    }

    fn put(&self, entry: CacheEntry) {
        if entry.size() > self.max_bytes || self.max_entries == 0 {
            return;
        }
        let order = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut entries = self.lock();
        entries.insert(entry.url.clone(), (order, entry));
        loop {
            let bytes: usize = entries.values().map(|(_, e)| e.size()).sum();
            if entries.len() <= self.max_entries && bytes <= self.max_bytes {
                break;
            }
            let oldest = entries
                .iter()
                .min_by_key(|(_, (o, _))| *o)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => entries.remove(&k),
                None => break,
            };
        }
    }

    fn remove(&self, url: &str) {
        self.lock().remove(url);
    }
}

/// What a response's `Cache-Control` (and `Vary`) allow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CacheRules {
    /// `Cache-Control` was present.
    pub(crate) present: bool,
    pub(crate) no_store: bool,
    pub(crate) no_cache: bool,
    /// `max-age`, capped at [`MAX_FRESHNESS`].
    pub(crate) max_age: Option<u64>,
    /// `Expires`, in seconds since the epoch (0 when it is no date).
    pub(crate) expires: Option<u64>,
    /// `Date`, in seconds since the epoch.
    pub(crate) date: Option<u64>,
}

/// An HTTP date (RFC 9110 section 5.6.7, the three forms it allows) in
/// seconds since the epoch.
fn http_date(value: &str) -> Option<u64> {
    let time = httpdate::parse_http_date(value.trim()).ok()?;
    time.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

impl CacheRules {
    /// Reads every `Cache-Control` header of `response` (directive names
    /// case-insensitive; a repeated `max-age` keeps the smallest; an
    /// unreadable one counts as 0).
    pub(crate) fn of(response: &HttpResponse) -> Self {
        let mut rules = Self::default();
        for (_, value) in response
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("cache-control"))
        {
            rules.present = true;
            for directive in value.split(',') {
                let (name, arg) = match directive.split_once('=') {
                    Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
                    None => (directive.trim(), None),
                };
                if name.eq_ignore_ascii_case("no-store") {
                    rules.no_store = true;
                } else if name.eq_ignore_ascii_case("no-cache") {
                    rules.no_cache = true;
                } else if name.eq_ignore_ascii_case("max-age") {
                    let n = arg
                        .and_then(|a| a.parse::<u64>().ok())
                        .unwrap_or(0)
                        .min(MAX_FRESHNESS);
                    rules.max_age = Some(rules.max_age.map_or(n, |m| m.min(n)));
                }
            }
        }
        if response
            .headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("vary") && v.split(',').any(|p| p.trim() == "*"))
        {
            rules.no_store = true;
        }
        rules.expires = response
            .header("expires")
            .map(|v| http_date(v).unwrap_or(0));
        rules.date = response.header("date").and_then(http_date);
        rules
    }

    /// Whether the response says anything about its freshness.
    pub(crate) fn says_freshness(&self) -> bool {
        self.present || self.expires.is_some()
    }

    /// How long a response received at `now` may be used without asking
    /// the server.
    pub(crate) fn freshness(&self, now: u64) -> u64 {
        if self.no_cache {
            return 0;
        }
        match (self.max_age, self.expires) {
            (Some(max_age), _) => max_age,
            (None, Some(expires)) => expires
                .saturating_sub(self.date.unwrap_or(now))
                .min(MAX_FRESHNESS),
            (None, None) => 0,
        }
    }
}

/// The request headers that choose the representation of a cached document.
pub(crate) fn variant(request: &HttpRequest) -> String {
    ["accept", "accept-language"]
        .iter()
        .map(|name| {
            request
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map_or("", |(_, v)| v.as_str())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether the request asks not to be answered from a cache without asking
/// the server (`Cache-Control: no-cache`).
pub(crate) fn request_no_cache(request: &HttpRequest) -> bool {
    request.headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("cache-control")
            && v.split(',')
                .any(|d| d.trim().eq_ignore_ascii_case("no-cache"))
    })
}

/// Whether a response came through a cache (it carries `Age`: ours adds
/// it to what it answers without a request, as any HTTP cache does). The
/// engine refetches such a document once when it turns out stale.
pub fn served_from_cache(response: &HttpResponse) -> bool {
    response.header("age").is_some()
}

/// What to store for the `200` `response` to `request` received at `now`
/// (`None`: nothing, and drop what is stored when `drop` says so).
pub(crate) fn entry_for(
    request: &HttpRequest,
    response: &HttpResponse,
    now: u64,
) -> (Option<CacheEntry>, bool) {
    let rules = CacheRules::of(response);
    if rules.no_store {
        return (None, true);
    }
    let etag = response.header("etag").map(str::to_string);
    let max_age = rules.freshness(now);
    if max_age == 0 && etag.is_none() {
        // Nothing to gain: no freshness and nothing to revalidate with.
        return (None, true);
    }
    (
        Some(CacheEntry {
            url: request.url.clone(),
            variant: variant(request),
            body: response.body.clone(),
            content_type: response.header("content-type").map(str::to_string),
            etag,
            stored_at: now,
            fresh_until: now.saturating_add(max_age),
            max_age,
        }),
        false,
    )
}

/// `entry` renewed by a `304` at `now` (its own `Cache-Control` applies when
/// it has one; `None` when it says `no-store`).
pub(crate) fn revalidated(
    mut entry: CacheEntry,
    not_modified: &HttpResponse,
    now: u64,
) -> Option<CacheEntry> {
    let rules = CacheRules::of(not_modified);
    if rules.no_store {
        return None;
    }
    if rules.says_freshness() {
        entry.max_age = rules.freshness(now);
    }
    if let Some(etag) = not_modified.header("etag") {
        entry.etag = Some(etag.to_string());
    }
    entry.stored_at = now;
    entry.fresh_until = now.saturating_add(entry.max_age);
    Some(entry)
}

/// What the cache makes of a request the engine marked cacheable, before
/// it is sent ([`lookup`]).
pub(crate) enum Lookup {
    /// A fresh entry answers, without a request (marked with `Age`).
    Hit(HttpResponse),
    /// Send [`Pending::request`], then settle the answer with
    /// [`Pending::settle`].
    Send(Pending),
}

/// A request on its way past the cache: the entry it may revalidate.
pub(crate) struct Pending {
    request: HttpRequest,
    entry: Option<CacheEntry>,
    etag: Option<String>,
}

/// Looks `request` up at `now`: a fresh entry of the same variant answers
/// (unless the request says `no-cache`); a stale one with an `ETag` makes
/// the request conditional (`If-None-Match`).
pub(crate) fn lookup(cache: &dyn MetadataCache, request: HttpRequest, now: u64) -> Lookup {
    let variant = variant(&request);
    let entry = cache.get(&request.url).filter(|e| e.variant == variant);
    if let Some(e) = &entry {
        if e.is_fresh(now) && !request_no_cache(&request) {
            return Lookup::Hit(e.response(Some(now.saturating_sub(e.stored_at))));
        }
    }
    let etag = entry.as_ref().and_then(|e| e.etag.clone());
    let request = match &etag {
        Some(tag) => request.header("if-none-match", tag.clone()),
        None => request,
    };
    Lookup::Send(Pending {
        request,
        entry,
        etag,
    })
}

impl Pending {
    /// The request to send.
    pub(crate) fn request(&self) -> HttpRequest {
        self.request.clone()
    }

    /// Settles what the server (or the transport) answered at `now`: a `304`
    /// to a conditional request renews the entry and answers with its body
    /// (also when an app's transport reports the `304` as a refused
    /// redirect), a `200` is stored as its `Cache-Control` allows, anything
    /// else passes through.
    pub(crate) fn settle(
        self,
        cache: &dyn MetadataCache,
        sent: Result<HttpResponse, crate::error::Error>,
        now: u64,
    ) -> Result<HttpResponse, crate::error::Error> {
        let response = match sent {
            Ok(response) => response,
            Err(crate::error::Error::Transport {
                kind: crate::error::TransportError::Redirect { status: 304 },
                ..
            }) if self.etag.is_some() => HttpResponse {
                status: 304,
                headers: Vec::new(),
                body: Vec::new(),
            },
            Err(e) => return Err(e),
        };
        let url = &self.request.url;
        match (response.status, self.entry) {
            (304, Some(entry)) if self.etag.is_some() => {
                let body = entry.response(None);
                match revalidated(entry, &response, now) {
                    Some(renewed) => cache.put(renewed),
                    None => cache.remove(url),
                }
                Ok(body)
            }
            (200, _) => {
                match entry_for(&self.request, &response, now) {
                    (Some(entry), _) => cache.put(entry),
                    (None, true) => cache.remove(url),
                    (None, false) => {}
                }
                Ok(response)
            }
            _ => Ok(response),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(headers: &[(&str, &str)]) -> HttpResponse {
        HttpResponse {
            status: 200,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: b"{}".to_vec(),
        }
    }

    #[test]
    fn expires_counts_from_date_when_there_is_no_max_age() {
        let date = "Thu, 03 Dec 2026 06:00:00 GMT";
        let at = http_date(date).unwrap();
        let r = CacheRules::of(&response(&[
            ("date", date),
            ("expires", "Thu, 03 Dec 2026 07:00:00 GMT"),
        ]));
        assert_eq!(r.freshness(at + 100), 3600, "from Date, not from arrival");
        assert!(r.says_freshness() && !r.present);
        // Without Date: from arrival; the other two date forms read too.
        let r = CacheRules::of(&response(&[(
            "expires",
            "Thursday, 03-Dec-26 07:00:00 GMT",
        )]));
        assert_eq!(r.freshness(at + 600), 3000);
        let r = CacheRules::of(&response(&[("expires", "Thu Dec  3 07:00:00 2026")]));
        assert_eq!(r.freshness(at), 3600);
        // max-age wins; no-cache and an Expires that is no date mean stale.
        let r = CacheRules::of(&response(&[
            ("cache-control", "max-age=60"),
            ("expires", "Thu, 03 Dec 2026 07:00:00 GMT"),
        ]));
        assert_eq!(r.freshness(at), 60);
        let r = CacheRules::of(&response(&[
            ("cache-control", "no-cache"),
            ("expires", "Thu, 03 Dec 2026 07:00:00 GMT"),
        ]));
        assert_eq!(r.freshness(at), 0);
        assert_eq!(
            CacheRules::of(&response(&[("expires", "0")])).freshness(at),
            0
        );
        // In the past, and far in the future (capped).
        let r = CacheRules::of(&response(&[("expires", "Thu, 03 Dec 2026 05:00:00 GMT")]));
        assert_eq!(r.freshness(at), 0);
        let r = CacheRules::of(&response(&[("expires", "Fri, 03 Dec 2027 07:00:00 GMT")]));
        assert_eq!(r.freshness(at), MAX_FRESHNESS);
        // s-maxage is for shared caches: not ours.
        let r = CacheRules::of(&response(&[("cache-control", "s-maxage=600")]));
        assert_eq!(r.freshness(at), 0);
        // A stored entry follows it, and a 304's Expires renews it.
        let request =
            HttpRequest::get("https://issuer.example/.well-known/openid-credential-issuer");
        let (entry, _) = entry_for(
            &request,
            &response(&[("date", date), ("expires", "Thu, 03 Dec 2026 06:10:00 GMT")]),
            at,
        );
        let entry = entry.expect("stored: fresh for ten minutes");
        assert!(entry.is_fresh(at + 599) && !entry.is_fresh(at + 600));
        let renewed = revalidated(
            entry,
            &response(&[("expires", "Thu, 03 Dec 2026 07:00:00 GMT")]),
            at + 600,
        )
        .unwrap();
        assert_eq!(renewed.fresh_until, at + 3600);
    }

    #[test]
    fn cache_control_directives() {
        let r = CacheRules::of(&response(&[("Cache-Control", "public, MAX-AGE=\"60\"")]));
        assert_eq!((r.present, r.max_age, r.freshness(0)), (true, Some(60), 60));
        let r = CacheRules::of(&response(&[("cache-control", "max-age=60, no-cache")]));
        assert_eq!(r.freshness(0), 0);
        let r = CacheRules::of(&response(&[
            ("cache-control", "max-age=60"),
            ("cache-control", "max-age=10"),
        ]));
        assert_eq!(r.max_age, Some(10));
        let r = CacheRules::of(&response(&[("cache-control", "max-age=99999999")]));
        assert_eq!(r.max_age, Some(MAX_FRESHNESS));
        let r = CacheRules::of(&response(&[("cache-control", "max-age=abc")]));
        assert_eq!(r.freshness(0), 0);
        assert!(CacheRules::of(&response(&[("cache-control", "no-store")])).no_store);
        assert!(CacheRules::of(&response(&[("vary", "*")])).no_store);
        assert!(!CacheRules::of(&response(&[])).present);
    }

    #[test]
    fn what_is_stored() {
        let request = HttpRequest::get("https://i.example/.well-known/x").header("accept", "a/b");
        let (e, _) = entry_for(&request, &response(&[("cache-control", "max-age=5")]), 100);
        let e = e.expect("stored");
        assert_eq!((e.fresh_until, e.variant.as_str()), (105, "a/b\n"));
        assert!(e.is_fresh(104) && !e.is_fresh(105));
        // No Cache-Control: only with an ETag, and always revalidated.
        assert_eq!(entry_for(&request, &response(&[]), 100), (None, true));
        let (e, _) = entry_for(&request, &response(&[("etag", "\"1\"")]), 100);
        assert!(!e.expect("stored").is_fresh(100));
        let (e, drop) = entry_for(
            &request,
            &response(&[("cache-control", "no-store, max-age=60"), ("etag", "\"1\"")]),
            100,
        );
        assert!(e.is_none() && drop);
    }

    #[test]
    fn revalidation_renews() {
        let request = HttpRequest::get("https://i.example/x");
        let (e, _) = entry_for(
            &request,
            &response(&[("cache-control", "max-age=5"), ("etag", "\"1\"")]),
            100,
        );
        let not_modified = HttpResponse {
            status: 304,
            headers: vec![],
            body: vec![],
        };
        let e = revalidated(e.expect("stored"), &not_modified, 200).expect("kept");
        assert_eq!((e.stored_at, e.fresh_until), (200, 205));
        let e = revalidated(e, &response(&[("cache-control", "max-age=1")]), 300).expect("kept");
        assert_eq!(e.fresh_until, 301);
        assert!(revalidated(e, &response(&[("cache-control", "no-store")]), 300).is_none());
    }

    #[test]
    fn in_memory_is_bounded() {
        let cache = InMemoryMetadataCache::new(2, 10_000);
        let entry = |url: &str, size: usize| CacheEntry {
            url: url.into(),
            variant: String::new(),
            body: vec![0; size],
            content_type: None,
            etag: None,
            stored_at: 0,
            fresh_until: 10,
            max_age: 10,
        };
        cache.put(entry("a", 10));
        cache.put(entry("b", 10));
        cache.put(entry("c", 10));
        assert_eq!(cache.len(), 2);
        assert!(cache.get("a").is_none() && cache.get("c").is_some());
        cache.put(entry("d", 9_900));
        assert_eq!(cache.len(), 1, "bytes bound");
        cache.put(entry("e", 20_000));
        assert!(cache.get("e").is_none(), "larger than the whole cache");
        cache.remove("d");
        assert!(cache.is_empty());
    }

    #[test]
    fn requests_and_marks() {
        let r = HttpRequest::get("https://i.example/x").header("cache-control", "no-cache");
        assert!(request_no_cache(&r));
        assert!(!request_no_cache(&HttpRequest::get("https://i.example/x")));
        assert!(served_from_cache(&response(&[("age", "3")])));
        assert!(!served_from_cache(&response(&[])));
    }
}
