//! [`MetadataStore`]: where the app persists the wallet's metadata cache
//! (issuer metadata, authorization server metadata, issuer keys) across
//! launches, so the first issuance after a restart needs no well-known
//! requests while the servers' `Cache-Control` allows.

use std::sync::Arc;

/// The app's persistent store of the metadata cache: entries are opaque JSON
/// texts by URL (keep them in a file, `SharedPreferences`, `UserDefaults`).
/// The wallet keeps a copy in memory and writes through: `load` is asked
/// only for a URL it has not seen since it was built. The calls are short
/// and made while a request is prepared; keep them fast.
#[uniffi::export(with_foreign)]
pub trait MetadataStore: Send + Sync {
    /// The entry stored for `url`, if any.
    fn load(&self, url: String) -> Option<String>;
    /// Stores (or replaces) the entry for `url`.
    fn store(&self, url: String, entry: String);
    /// Drops the entry for `url` (the server said `no-store`, or it changed).
    fn remove(&self, url: String);
}

/// The core cache over a foreign store: in memory first, written through.
pub(super) struct ForeignMetadataCache {
    memory: crate::InMemoryMetadataCache,
    store: Arc<dyn MetadataStore>,
}

/// The largest entry text read back from the app's store.
const MAX_ENTRY_CHARS: usize = 4 * 1024 * 1024;

impl ForeignMetadataCache {
    pub(super) fn new(store: Arc<dyn MetadataStore>) -> Self {
        Self {
            memory: crate::InMemoryMetadataCache::default(),
            store,
        }
    }
}

impl crate::MetadataCache for ForeignMetadataCache {
    fn get(&self, url: &str) -> Option<crate::CacheEntry> {
        if let Some(entry) = self.memory.get(url) {
            return Some(entry);
        }
        // What the store gives back is read like any input: bounded, and an
        // entry that does not parse (or is for another URL) is no entry.
        let text = self.store.load(url.to_string())?;
        if text.len() > MAX_ENTRY_CHARS {
            return None;
        }
        let entry: crate::CacheEntry = serde_json::from_str(&text).ok()?;
        if entry.url != url {
            return None;
        }
        self.memory.put(entry.clone());
        Some(entry)
    }

    fn put(&self, entry: crate::CacheEntry) {
        if let Ok(text) = serde_json::to_string(&entry) {
            self.store.store(entry.url.clone(), text);
        }
        self.memory.put(entry);
    }

    fn remove(&self, url: &str) {
        self.memory.remove(url);
        self.store.remove(url.to_string());
    }
}
