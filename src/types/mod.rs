//! Protocol messages as serde types. 1.0 shapes first; draft-13 fields are
//! accepted where they differ. Unknown fields are ignored.

pub mod draft13;
pub mod messages;
pub mod metadata;
pub mod offer;
pub mod secret;

pub use draft13::SpecVersion;
pub use messages::*;
pub use metadata::*;
pub use offer::*;
pub use secret::*;
