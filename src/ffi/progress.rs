//! [`ProgressObserver`]: the stages of `Wallet.receive` ([`ReceiveStage`]),
//! for the app's progress screen.

use std::sync::Arc;

/// A stage of `Wallet.receive`, in the order they come.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ReceiveStage {
    /// Reading the offer URL, fetching the offer when it is by reference.
    ResolvingOffer,
    /// Fetching and checking the issuer's and its authorization server's
    /// metadata.
    ReadingMetadata {
        /// The credential issuer identifier, as the offer gives it.
        credential_issuer: String,
    },
    /// Waiting for the user's transaction code (`Interaction.txCode`).
    WaitingForTxCode,
    /// Waiting for the user in the browser (`Interaction.authorize`).
    WaitingForBrowser {
        /// The authorization URL the browser is sent to.
        authorization_url: String,
    },
    /// Requesting the access token.
    Token,
    /// Requesting the credentials of one configuration: the `index`-th
    /// (from 1) of `total` requests, asking for `batch_size` credentials
    /// (one per key).
    Credential {
        /// The configuration requested.
        configuration_id: String,
        /// Which request this is, from 1.
        index: u32,
        /// How many configurations are requested.
        total: u32,
        /// How many credentials this request asks for.
        batch_size: u32,
    },
    /// The issuer defers the credentials: waiting until the next poll.
    Deferred {
        /// The configuration being issued.
        configuration_id: String,
        /// Milliseconds until the next poll.
        next_poll_in_ms: u64,
        /// When the next poll is sent, in milliseconds since the Unix epoch.
        next_poll_at_ms: u64,
    },
    /// Finished: every requested credential is received.
    Done {
        /// How many credentials were received.
        credentials: u32,
    },
}

/// Hears the stages of `Wallet.receive`, in order, as each begins. Called
/// on the wallet's worker thread, not the app's main thread: post to the UI
/// and return at once.
#[uniffi::export(with_foreign)]
pub trait ProgressObserver: Send + Sync {
    /// A stage begins.
    fn on_stage(&self, stage: ReceiveStage);
}

/// Adapts a foreign observer to the core trait.
pub(super) struct ForeignProgress(pub(super) Arc<dyn ProgressObserver>);

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl crate::ProgressObserver for ForeignProgress {
    // The core enum is non_exhaustive: a stage these bindings do not know
    // is not told.
    #[allow(unreachable_patterns)]
    fn on_stage(&self, stage: &crate::ReceiveStage) {
        use crate::ReceiveStage as Core;
        let stage = match stage {
            Core::ResolvingOffer => ReceiveStage::ResolvingOffer,
            Core::ReadingMetadata { credential_issuer } => ReceiveStage::ReadingMetadata {
                credential_issuer: credential_issuer.clone(),
            },
            Core::WaitingForTxCode => ReceiveStage::WaitingForTxCode,
            Core::WaitingForBrowser { authorization_url } => ReceiveStage::WaitingForBrowser {
                authorization_url: authorization_url.clone(),
            },
            Core::Token => ReceiveStage::Token,
            Core::Credential {
                configuration_id,
                index,
                total,
                batch_size,
            } => ReceiveStage::Credential {
                configuration_id: configuration_id.clone(),
                index: count(*index),
                total: count(*total),
                batch_size: count(*batch_size),
            },
            Core::Deferred {
                configuration_id,
                next_poll_in,
                next_poll_at,
            } => ReceiveStage::Deferred {
                configuration_id: configuration_id.clone(),
                next_poll_in_ms: u64::try_from(next_poll_in.as_millis()).unwrap_or(u64::MAX),
                next_poll_at_ms: next_poll_at.saturating_mul(1000),
            },
            Core::Done { credentials } => ReceiveStage::Done {
                credentials: count(*credentials),
            },
            _ => return,
        };
        self.0.on_stage(stage);
    }
}
