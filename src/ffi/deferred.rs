//! A [`DeferredCredential`], delivered later: poll it, save it, cancel it.

use super::session::convert_credentials;
use super::{AuthorizedSession, Credential, Wallet, WalletError};
use std::sync::Arc;
use std::time::Duration;

/// What a deferred poll found.
#[derive(uniffi::Enum)]
pub enum DeferredPoll {
    /// Not ready: wait at least this long.
    Pending {
        /// Milliseconds.
        interval_ms: u64,
    },
    /// Issued.
    Issued {
        /// The credentials.
        credentials: Vec<Credential>,
    },
}

/// A credential the issuer delivers later.
#[derive(uniffi::Object)]
pub struct DeferredCredential {
    inner: tokio::sync::Mutex<crate::DeferredPending>,
    locales: Vec<String>,
    cancel: crate::CancelToken,
}

impl DeferredCredential {
    pub(super) fn wrap(pending: crate::DeferredPending, locales: Vec<String>) -> Arc<Self> {
        Arc::new(Self {
            inner: tokio::sync::Mutex::new(pending),
            locales,
            cancel: crate::CancelToken::new(),
        })
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl DeferredCredential {
    /// Restores a transaction saved with [`Self::to_json`]. Throws
    /// `WalletError::InvalidState`, naming what is wrong, for anything else
    /// (not JSON, another saved state, a newer format, a missing field).
    #[uniffi::constructor]
    pub fn from_json(json: String, locales: Vec<String>) -> Result<Arc<Self>, WalletError> {
        Ok(Self::wrap(
            crate::DeferredPending::from_json(&json)?,
            locales,
        ))
    }

    /// Saves the transaction (it holds the access token: use secure storage).
    /// Throws `WalletError::InvalidState` if it cannot be saved.
    pub async fn to_json(&self) -> Result<String, WalletError> {
        Ok(self.inner.lock().await.to_json()?)
    }

    /// The issuer's requested wait before the next poll, in milliseconds.
    pub async fn interval_ms(&self) -> u64 {
        self.inner.lock().await.interval().as_millis() as u64
    }

    /// Polls once.
    pub async fn poll(&self, wallet: Arc<Wallet>) -> Result<DeferredPoll, WalletError> {
        let mut pending = self.inner.lock().await;
        match pending.poll(&wallet.inner).await? {
            crate::DeferredStatus::Pending { interval } => Ok(DeferredPoll::Pending {
                interval_ms: interval.as_millis() as u64,
            }),
            crate::DeferredStatus::Issued(list) => Ok(DeferredPoll::Issued {
                credentials: convert_credentials(
                    list,
                    pending.authorized().context(),
                    &self.locales,
                ),
            }),
            crate::DeferredStatus::Failed(error) => Err(pending.ended_error(error).into()),
        }
    }

    /// Polls at the issuer's interval until issued, failed, the deadline
    /// passes, or [`Self::cancel`] is called.
    pub async fn poll_until_ready(
        &self,
        wallet: Arc<Wallet>,
        deadline_ms: u64,
    ) -> Result<Vec<Credential>, WalletError> {
        let mut pending = self.inner.lock().await;
        let list = pending
            .poll_until_ready(
                &wallet.inner,
                Duration::from_millis(deadline_ms),
                Some(&self.cancel),
            )
            .await?;
        Ok(convert_credentials(
            list,
            pending.authorized().context(),
            &self.locales,
        ))
    }

    /// Cancels a running [`Self::poll_until_ready`].
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// The session this transaction belongs to (for notifications).
    pub async fn session(&self) -> Arc<AuthorizedSession> {
        AuthorizedSession::wrap(
            self.inner.lock().await.authorized().clone(),
            self.locales.clone(),
        )
    }
}
