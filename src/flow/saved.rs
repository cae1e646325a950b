//! The states of an issuance, each named for what comes next. Every state is
//! `Serialize + Deserialize` so an app can save it (in secure storage: states
//! hold codes and tokens) and resume after a restart; none holds an HTTP client
//! or a signer.
//!
//! Each state that can outlive the process has `to_json` and `from_json`:
//! [`ResolvedOffer`], [`PreAuthorizedStep`],
//! [`crate::flow::authorization::PendingAuthorization`], [`Authorized`] and
//! [`crate::flow::deferred::DeferredPending`]. The JSON is the state's
//! fields plus two of the format's own: `saved_state` (which state it is) and
//! `saved_version` ([`SAVED_STATE_VERSION`]). `from_json` refuses anything
//! else with [`Error::InvalidState`] naming the state and what failed (never
//! the values: they may be secrets): not JSON, another state, a newer format,
//! a missing or mistyped field. States saved before the format had these two
//! fields (a pending authorization, an authorized session, a deferred
//! transaction) are still read.

use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The version of the saved-state format this SDK writes (`saved_version`),
/// and the newest it reads.
pub const SAVED_STATE_VERSION: u32 = 1;

/// Which state a saved JSON holds (its `saved_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SavedKind {
    ResolvedOffer,
    PreAuthorizedStep,
    PendingAuthorization,
    Authorized,
    DeferredPending,
}

impl SavedKind {
    const ALL: [SavedKind; 5] = [
        SavedKind::ResolvedOffer,
        SavedKind::PreAuthorizedStep,
        SavedKind::PendingAuthorization,
        SavedKind::Authorized,
        SavedKind::DeferredPending,
    ];

    fn tag(self) -> &'static str {
        match self {
            SavedKind::ResolvedOffer => "resolved_offer",
            SavedKind::PreAuthorizedStep => "pre_authorized_step",
            SavedKind::PendingAuthorization => "pending_authorization",
            SavedKind::Authorized => "authorized",
            SavedKind::DeferredPending => "deferred_pending",
        }
    }

    fn name(self) -> &'static str {
        match self {
            SavedKind::ResolvedOffer => "resolved offer",
            SavedKind::PreAuthorizedStep => "pre-authorized step",
            SavedKind::PendingAuthorization => "pending authorization",
            SavedKind::Authorized => "authorized session",
            SavedKind::DeferredPending => "deferred transaction",
        }
    }

    /// Whether this state was saved before the format was versioned (and so
    /// may come without `saved_state` and `saved_version`).
    fn saved_untagged_before(self) -> bool {
        matches!(
            self,
            SavedKind::PendingAuthorization | SavedKind::Authorized | SavedKind::DeferredPending
        )
    }

    /// An [`Error::InvalidState`] about a saved state of this kind.
    pub(crate) fn error(self, problem: impl std::fmt::Display) -> Error {
        Error::InvalidState(format!("saved {}: {problem}", self.name()))
    }
}

/// A state as saved: its fields and the format's two.
#[derive(Serialize)]
struct Tagged<'a, T> {
    saved_state: &'static str,
    saved_version: u32,
    #[serde(flatten)]
    state: &'a T,
}

/// The format's two fields of a saved state (its other fields are skipped).
#[derive(Deserialize)]
struct SavedHeader {
    #[serde(default)]
    saved_state: Option<serde_json::Value>,
    #[serde(default)]
    saved_version: Option<serde_json::Value>,
}

/// Saves a state as JSON, tagged with its kind and the format version.
pub(crate) fn save_state<T: Serialize>(kind: SavedKind, state: &T) -> Result<String> {
    serde_json::to_string(&Tagged {
        saved_state: kind.tag(),
        saved_version: SAVED_STATE_VERSION,
        state,
    })
    .map_err(|e| {
        Error::InvalidState(format!(
            "saving the {}: {}",
            kind.name(),
            redacted_json_error(&e)
        ))
    })
}

/// Restores a state saved by [`save_state`], refusing anything else with an
/// [`Error::InvalidState`] that names the state and what failed.
pub(crate) fn restore_state<T: DeserializeOwned>(kind: SavedKind, json: &str) -> Result<T> {
    if !json.trim_start().starts_with('{') {
        return Err(kind.error("not a saved state (expected a JSON object)"));
    }
    let header: SavedHeader =
        serde_json::from_str(json).map_err(|e| kind.error(redacted_json_error(&e)))?;
    match (&header.saved_state, &header.saved_version) {
        (None, None) if kind.saved_untagged_before() => {}
        (None, _) => {
            return Err(kind.error(format!(
                "no saved_state (expected {:?}): not a saved state of this SDK",
                kind.tag()
            )))
        }
        (Some(serde_json::Value::String(tag)), version) => {
            if tag != kind.tag() {
                return Err(match SavedKind::ALL.iter().find(|k| k.tag() == tag) {
                    Some(other) => kind.error(format!(
                        "this is a saved {}, not a saved {}",
                        other.name(),
                        kind.name()
                    )),
                    None => kind.error(format!(
                        "saved_state {:?} is no state of this SDK (expected {:?})",
                        crate::error::sanitize(tag, 40),
                        kind.tag()
                    )),
                });
            }
            match version.as_ref().map(serde_json::Value::as_u64) {
                None => return Err(kind.error("no saved_version")),
                Some(None) | Some(Some(0)) => {
                    return Err(kind.error("saved_version is not a format version (1, 2, ...)"))
                }
                Some(Some(v)) if v > u64::from(SAVED_STATE_VERSION) => {
                    return Err(kind.error(format!(
                        "saved by a newer SDK (format version {v}; this one reads up to {SAVED_STATE_VERSION})"
                    )))
                }
                Some(Some(_)) => {}
            }
        }
        (Some(_), _) => return Err(kind.error("saved_state is not a string")),
    }
    let mut de = serde_json::Deserializer::from_str(json);
    let state = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = crate::error::sanitize(&e.path().to_string(), 120);
        let what = redacted_json_error(e.inner());
        match path.as_str() {
            "" | "." => kind.error(what),
            _ => kind.error(format!("field {path}: {what}")),
        }
    })?;
    de.end().map_err(|e| kind.error(redacted_json_error(&e)))?;
    Ok(state)
}

/// A JSON error without the value it quotes: serde's messages quote what
/// they found (`invalid type: string "...", expected u64`), and in a saved
/// state that may be a code or a token. What was expected, field names and
/// the position stay.
fn redacted_json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let keep_whole = e.classify() != serde_json::error::Category::Data
        || text.starts_with("missing field")
        || text.starts_with("duplicate field");
    let text = match text.find(['"', '`']) {
        Some(quote) if !keep_whole => {
            let head = text[..quote].trim_end();
            match text.rfind(", expected ") {
                Some(tail) if tail > quote => format!("{head}{}", &text[tail..]),
                _ => match (e.line(), e.column()) {
                    (0, _) => head.to_string(),
                    (line, column) => format!("{head} at line {line} column {column}"),
                },
            }
        }
        _ => text,
    };
    crate::error::sanitize(&text, crate::error::MAX_QUOTED_CHARS)
}
