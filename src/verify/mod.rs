//! What the wallet checks in what it receives: SD-JWT VCs (issuer signature,
//! disclosures, binding) and the issuer's keys behind them. No IO: keys it
//! must fetch are steps in [`crate::flow`].

pub mod sd_jwt;
pub mod trust;

use serde::{Deserialize, Serialize};

/// What the wallet established about a received credential's issuer
/// signature. A check that *failed* (a bad signature, a broken chain, a leaf
/// naming another issuer, a digest or key-binding mismatch) is an error, never
/// a `Verification`.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Verification {
    /// The issuer's signature was checked with a key the wallet trusts.
    Verified {
        /// Where the trust in the key comes from.
        by: VerifiedBy,
    },
    /// The signature was not (or could not be) checked with a trusted key.
    Unverified {
        /// Why not: no trust anchor reached, no key found, checks turned off.
        reason: String,
    },
}

impl Verification {
    /// Whether the issuer's signature was checked with a trusted key.
    pub fn is_verified(&self) -> bool {
        matches!(self, Verification::Verified { .. })
    }

    pub(crate) fn unverified(reason: impl Into<String>) -> Self {
        Verification::Unverified {
            reason: reason.into(),
        }
    }
}

/// Where the trust in an issuer key comes from.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum VerifiedBy {
    /// An `x5c` chain to one of the app's trust anchors, its leaf naming the issuer.
    TrustAnchor {
        /// The anchor's subject.
        anchor: String,
    },
    /// The issuer's JWT VC issuer metadata (`/.well-known/jwt-vc-issuer`),
    /// fetched over https: trust comes from the web PKI.
    IssuerMetadata {
        /// Where the keys were published.
        url: String,
    },
}
