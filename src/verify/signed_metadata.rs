//! Signed credential issuer metadata (OID4VCI 1.0 section 12.2.3; draft 13's
//! `signed_metadata` parameter): a JWT of `typ`
//! `openidvci-issuer-metadata+jwt` whose claims are the metadata, `sub` the
//! credential issuer identifier, `iat` required, `exp` optional, signed by a
//! key that chains (`x5c`) to the app's trust anchors with a leaf naming the
//! issuer. Trust in the signer must be established, else the document is
//! refused: a signed document nobody can vouch for is no better than a
//! forged one.

use super::trust::{check_x5c, ChainOutcome, TrustAnchors};
use super::IssuerSigned;
use crate::error::sanitize;
use crate::jose::CompactJws;
use serde_json::{Map, Value};

/// The `typ` of signed issuer metadata.
pub(crate) const SIGNED_METADATA_TYP: &str = "openidvci-issuer-metadata+jwt";

/// Checks signed metadata `jwt` of `issuer` at `now` (seconds since the
/// epoch) against `anchors`, and returns its claims without the JWT's own
/// (`sub`, `iat`, `exp`, `iss`, `nbf`, `jti`): the metadata.
pub(crate) fn verify_signed_metadata(
    jwt: &str,
    issuer: &str,
    anchors: &TrustAnchors,
    now: u64,
) -> Result<Map<String, Value>, String> {
    let jws = CompactJws::parse(jwt.trim())?;
    let typ = jws.header.get("typ").and_then(Value::as_str);
    if typ != Some(SIGNED_METADATA_TYP) {
        return Err(format!(
            "typ is {:?}, not {SIGNED_METADATA_TYP}",
            typ.map(|t| sanitize(t, 40))
        ));
    }
    let alg = jws
        .header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !super::sd_jwt::ALLOWED_ALGORITHMS.contains(&alg) {
        return Err(format!(
            "alg {} is not an allowed signature algorithm",
            sanitize(alg, 16)
        ));
    }
    let sub = jws.payload.get("sub").and_then(Value::as_str);
    if sub != Some(issuer) {
        return Err(format!(
            "sub {:?} is not the credential issuer {}",
            sub.map(|s| sanitize(s, 80)),
            sanitize(issuer, 80)
        ));
    }
    if !jws.payload.get("iat").is_some_and(Value::is_number) {
        return Err("no iat".into());
    }
    super::check_times(&jws.payload, now)?;
    let x5c = jws
        .header
        .get("x5c")
        .ok_or("no x5c header: the signer cannot be chained to a trust anchor")?;
    let signed = IssuerSigned {
        header: &jws.header,
        input: jws.signing_input.as_bytes(),
        signature: &jws.signature,
    };
    match check_x5c(x5c, anchors, issuer, now)? {
        ChainOutcome::Trusted { leaf_jwk, .. } => signed.verify(&leaf_jwk)?,
        ChainOutcome::NoAnchor { reason, .. } => {
            return Err(format!("the signer is not trusted: {reason}"))
        }
    }
    let mut claims = jws.payload;
    for own in ["sub", "iat", "exp", "iss", "nbf", "jti"] {
        claims.remove(own);
    }
    Ok(claims)
}
