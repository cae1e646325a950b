//! The integration tests over real HTTP against the reference issuer (and
//! the third-party peers of `tests/interop`), in one test binary: one link
//! instead of one per file. Each module is what a user sees of one area.
//! The CLI, the headless-browser login and the 1000-issuance load test stay
//! binaries of their own (`tests/cli.rs`, `tests/browser.rs`,
//! `tests/concurrency.rs`).

#[path = "../common/mod.rs"]
mod common;

mod attestation;
mod authorization;
mod batch;
mod cache;
mod cancellation;
mod deferred;
mod discovery;
mod dpop;
mod draft11;
mod draft13;
mod encryption;
mod fixtures;
mod hostile;
mod interop;
mod pre_authorized;
mod progress;
mod properties;
mod resume;
mod round_trips;
mod secrets;
mod trust;
