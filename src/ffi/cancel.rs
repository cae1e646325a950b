//! [`Cancellation`]: a handle the app cancels to stop an SDK call in flight.
//!
//! Kotlin needs none: cancelling the coroutine drops the Rust future, which
//! abandons the request in flight. UniFFI's Swift bindings do not pass task
//! cancellation to Rust, so a Swift app wires it itself:
//! `withTaskCancellationHandler { try await wallet.resolveOffer(offerUrl: url, cancel: c) } onCancel: { c.cancel() }`.
//! The call then ends with `WalletError.Cancelled` within a few milliseconds,
//! and its request in flight is abandoned (the connection is closed); what
//! the app saved before the call stays valid.

use super::WalletError;
use std::future::Future;
use std::sync::Arc;

/// Stops the SDK calls it is passed to (`cancel` parameters). Cancelling is
/// permanent: make a new one for the next call.
#[derive(Debug, Default, uniffi::Object)]
pub struct Cancellation {
    token: crate::CancelToken,
}

#[uniffi::export]
impl Cancellation {
    /// A handle not yet cancelled.
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Stops every call this handle was passed to: each ends with
    /// `WalletError::Cancelled`.
    pub fn cancel(&self) {
        self.token.cancel();
    }

    /// Whether [`Self::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }
}

/// Runs `work` until it ends or `cancel` fires (then the future is dropped:
/// its request in flight is abandoned).
pub(super) async fn cancellable<T>(
    cancel: Option<Arc<Cancellation>>,
    work: impl Future<Output = Result<T, WalletError>>,
) -> Result<T, WalletError> {
    match cancel {
        None => work.await,
        Some(handle) => tokio::select! {
            biased;
            _ = handle.token.cancelled() => Err(WalletError::Cancelled),
            out = work => out,
        },
    }
}
