//! What the wallet checks in what it receives: SD-JWT VCs (issuer signature,
//! disclosures, binding) and the issuer's keys behind them. No IO: keys it
//! must fetch are steps in [`crate::flow`].

pub(crate) mod did;
pub(crate) mod jwt_vc;
pub(crate) mod mdoc;
pub(crate) mod sd_jwt;
pub(crate) mod signed_metadata;
pub(crate) mod trust;

pub use did::{
    key_in_document as did_key_in_document, kid_names as did_kid_names, method as did_method,
    resolve as resolve_did, DidKey, MAX_DID_CHARS,
};
pub use jwt_vc::JwtVc;
pub use mdoc::{Mdoc, MdocItem, MdocValue, Validity, MAX_MDOC_BYTES};
pub use sd_jwt::{
    SdJwt, ALLOWED_ALGORITHMS, CLOCK_SKEW_SECS, MAX_DEPTH, MAX_DISCLOSURES, SD_JWT_VC_TYPES,
};
pub use trust::{
    check_x5c, check_x5chain, ChainOutcome, TrustAnchors, MAX_CERTIFICATE_BYTES,
    MAX_CHAIN_CERTIFICATES,
};

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
    /// A DID in `iss`: decoded locally (`did:jwk`, `did:key`) or its
    /// document fetched over https (`did:web`). The key is bound to that
    /// identifier; whether the app trusts the DID is its decision.
    Did {
        /// The DID.
        did: String,
    },
}

/// An issuer-signed JWT (of an SD-JWT VC or a JWT VC) in parts.
pub(crate) struct IssuerSigned<'a> {
    pub(crate) header: &'a serde_json::Map<String, serde_json::Value>,
    /// `header.payload` as signed.
    pub(crate) input: &'a [u8],
    pub(crate) signature: &'a [u8],
}

impl IssuerSigned<'_> {
    /// `kid` of the signature.
    pub(crate) fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(serde_json::Value::as_str)
    }

    /// Verifies the signature with `jwk` and the header's `alg`.
    pub(crate) fn verify(&self, jwk: &serde_json::Value) -> Result<(), String> {
        let alg = self
            .header
            .get("alg")
            .and_then(serde_json::Value::as_str)
            .ok_or("the issuer-signed JWT has no alg")?;
        crate::jose::verify_jws_signature(alg, jwk, self.input, self.signature)
            .map_err(|e| format!("issuer signature: {e}"))
    }
}

/// `iat`, `nbf` and `exp` of a credential against `now` (seconds since the
/// epoch), with [`sd_jwt::CLOCK_SKEW_SECS`] of tolerance.
pub(crate) fn check_times(
    payload: &serde_json::Map<String, serde_json::Value>,
    now: u64,
) -> Result<(), String> {
    let skew = sd_jwt::CLOCK_SKEW_SECS;
    let time = |name: &str| -> Result<Option<u64>, String> {
        match payload.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
                .map(Some)
                .ok_or_else(|| format!("{name} is not a NumericDate")),
        }
    };
    if let Some(exp) = time("exp")? {
        if now > exp.saturating_add(skew) {
            return Err(format!("the credential expired {} s ago (exp)", now - exp));
        }
    }
    if let Some(nbf) = time("nbf")? {
        if nbf > now.saturating_add(skew) {
            return Err(format!(
                "the credential is not valid for another {} s (nbf)",
                nbf - now
            ));
        }
    }
    if let Some(iat) = time("iat")? {
        if iat > now.saturating_add(skew) {
            return Err(format!(
                "the credential was issued {} s in the future (iat)",
                iat - now
            ));
        }
    }
    Ok(())
}
