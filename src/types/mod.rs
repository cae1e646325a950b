//! Protocol messages as serde types. 1.0 shapes first; draft-13 fields are
//! accepted where they differ, draft 11/12 metadata is converted
//! ([`SpecVersion`] says which). Unknown fields are ignored.

pub(crate) mod draft11;
pub(crate) mod draft13;
pub(crate) mod messages;
pub(crate) mod metadata;
pub(crate) mod offer;
pub(crate) mod secret;

pub use draft13::SpecVersion;
pub use messages::*;
pub use metadata::*;
pub use offer::*;
pub use secret::*;
