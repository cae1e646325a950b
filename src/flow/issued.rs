//! What the issuer sent, as the app sees it: each credential decoded (SD-JWT,
//! mdoc, JWT VC, LDP VC), bound to the request's keys, with its claims
//! labelled from the metadata.

use super::authorized::Authorized;
use super::plan::CredentialPlan;
use crate::error::{sanitize, CredentialRejection, Error};
use crate::types::CredentialResponse;
use crate::verify::jwt_vc::JwtVc;
use crate::verify::mdoc::{Mdoc, MdocValue};
use crate::verify::sd_jwt::SdJwt;
use crate::verify::Verification;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A credential as received, with what the wallet checked and decoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssuedCredential {
    /// The configuration it was requested for.
    pub configuration_id: String,
    /// Its format.
    pub format: String,
    /// The credential exactly as issued (a string for SD-JWT, mdoc and JWT
    /// formats; an object for `ldp_vc`).
    pub credential: Value,
    /// For the notification endpoint.
    pub notification_id: Option<String>,
    /// The holder key it is bound to (one of the keys the request used).
    pub holder_jwk: Option<Value>,
    /// The claims: SD-JWT's disclosed claims, a JWT VC's subject, an mdoc's
    /// namespace → element → value.
    pub claims: Option<serde_json::Map<String, Value>>,
    /// Whether the issuer's signature was verified with a trusted key
    /// (`verification.is_verified()`).
    pub signature_verified: bool,
    /// What the wallet established about the issuer's signature.
    #[serde(default = "not_checked")]
    pub verification: Verification,
}

fn not_checked() -> Verification {
    Verification::unverified("not checked")
}

impl IssuedCredential {
    /// The credential as a string (all formats but `ldp_vc`).
    pub fn as_str(&self) -> Option<&str> {
        self.credential.as_str()
    }

    /// The decoded mdoc, for `mso_mdoc`: typed values (dates, byte strings).
    pub fn mdoc(&self) -> Option<Mdoc> {
        (self.format == "mso_mdoc").then(|| Mdoc::parse(self.as_str()?).ok())?
    }

    /// The decoded SD-JWT, for SD-JWT formats.
    pub fn sd_jwt(&self) -> Option<SdJwt> {
        is_sd_jwt(&self.format).then(|| SdJwt::parse(self.as_str()?).ok())?
    }

    /// The disclosed claims with labels from the issuer metadata for the
    /// locales: one entry per claim description whose path resolves, then the
    /// remaining top-level claims under their own names.
    pub fn labelled_claims(
        &self,
        configuration: &crate::types::CredentialConfiguration,
        locales: &[String],
    ) -> Vec<(String, Value)> {
        self.labelled(configuration, locales)
            .into_iter()
            .map(|c| (c.label, c.value))
            .collect()
    }

    /// [`Self::labelled_claims`] with each claim's path and the kind of its
    /// value. Labels are safe to show ([`crate::error::display_text`]);
    /// values are as issued. For an mdoc the paths are `[namespace, element]`, every element
    /// the metadata does not describe follows under its identifier, and the
    /// kinds keep what CBOR typed (dates, byte strings such as a portrait).
    pub fn labelled(
        &self,
        configuration: &crate::types::CredentialConfiguration,
        locales: &[String],
    ) -> Vec<LabelledClaim> {
        let Some(claims) = &self.claims else {
            return Vec::new();
        };
        let mdoc = self.mdoc();
        let kind_at = |path: &[Value], value: &Value| -> ClaimKind {
            let typed = mdoc.as_ref().and_then(|m| match path {
                [Value::String(ns), Value::String(element)] => m
                    .items()
                    .iter()
                    .find(|i| &i.namespace == ns && &i.identifier == element)
                    .map(|i| ClaimKind::of_mdoc(&i.value)),
                _ => None,
            });
            typed.unwrap_or_else(|| ClaimKind::of_json(value))
        };
        let root = Value::Object(claims.clone());
        let mut out = Vec::new();
        let mut covered = std::collections::HashSet::new();
        for description in configuration.claims() {
            let Some(value) = resolve_path(&root, &description.path) else {
                continue;
            };
            let key = match (&mdoc, description.path.as_slice()) {
                (Some(_), [first, second, ..]) => vec![first.clone(), second.clone()],
                (_, [first, ..]) => vec![first.clone()],
                _ => Vec::new(),
            };
            covered.insert(key);
            let label = description
                .label_for(locales)
                .map(|l| crate::error::display_text(l).into_owned())
                .unwrap_or_else(|| {
                    description
                        .path
                        .iter()
                        .map(|p| p.to_string().trim_matches('"').to_string())
                        .collect::<Vec<_>>()
                        .join(".")
                });
            out.push(LabelledClaim {
                kind: kind_at(&description.path, value),
                path: description.path.clone(),
                label,
                value: value.clone(),
            });
        }
        if let Some(mdoc) = &mdoc {
            for item in mdoc.items() {
                let path = vec![
                    Value::String(item.namespace.clone()),
                    Value::String(item.identifier.clone()),
                ];
                if !covered.contains(&path) {
                    out.push(LabelledClaim {
                        path,
                        label: crate::error::display_text(&item.identifier).into_owned(),
                        value: item.value.to_json(),
                        kind: ClaimKind::of_mdoc(&item.value),
                    });
                }
            }
            return out;
        }
        for (k, v) in claims {
            let technical = ["iss", "iat", "exp", "nbf", "vct", "cnf", "status", "sub"];
            let path = vec![Value::String(k.clone())];
            if !covered.contains(&path) && !technical.contains(&k.as_str()) {
                out.push(LabelledClaim {
                    kind: ClaimKind::of_json(v),
                    path,
                    label: crate::error::display_text(k).into_owned(),
                    value: v.clone(),
                });
            }
        }
        out
    }
}

/// A claim for display: where it is, its label in the user's locale, its value.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledClaim {
    /// Its path in the credential (for an mdoc `[namespace, element]`).
    pub path: Vec<Value>,
    /// The label from the issuer metadata in the wallet's locale, or the
    /// claim's own name.
    pub label: String,
    /// The value as JSON (mdoc dates as their text, byte strings base64url).
    pub value: Value,
    /// What kind of value it is.
    pub kind: ClaimKind,
}

/// The kind of a claim's value, so an app can show a date as a date and a
/// portrait as an image.
///
/// The bindings export this enum as it is (`feature = "uniffi"`).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum ClaimKind {
    /// `null`.
    Null,
    /// A boolean.
    Bool,
    /// An integer.
    Integer,
    /// A number with a fraction.
    Number,
    /// Text.
    Text,
    /// A calendar date (`YYYY-MM-DD`; mdoc `full-date`).
    Date,
    /// A point in time (RFC 3339; mdoc `tdate`).
    DateTime,
    /// Bytes, shown base64url without padding in JSON (the bindings'
    /// `value_json` too), e.g. an mdoc portrait.
    Bytes,
    /// An array.
    Array,
    /// An object or map.
    Object,
}

impl ClaimKind {
    fn of_json(value: &Value) -> Self {
        match value {
            Value::Null => ClaimKind::Null,
            Value::Bool(_) => ClaimKind::Bool,
            Value::Number(n) if n.is_i64() || n.is_u64() => ClaimKind::Integer,
            Value::Number(_) => ClaimKind::Number,
            Value::String(_) => ClaimKind::Text,
            Value::Array(_) => ClaimKind::Array,
            Value::Object(_) => ClaimKind::Object,
        }
    }

    fn of_mdoc(value: &MdocValue) -> Self {
        match value {
            MdocValue::Bool(_) => ClaimKind::Bool,
            MdocValue::Integer(_) => ClaimKind::Integer,
            MdocValue::Float(_) => ClaimKind::Number,
            MdocValue::Text(_) => ClaimKind::Text,
            MdocValue::Bytes(_) => ClaimKind::Bytes,
            MdocValue::Date(_) => ClaimKind::Date,
            MdocValue::DateTime(_) => ClaimKind::DateTime,
            MdocValue::Array(_) => ClaimKind::Array,
            MdocValue::Map(_) => ClaimKind::Object,
            _ => ClaimKind::Null,
        }
    }
}

fn resolve_path<'a>(root: &'a Value, path: &[Value]) -> Option<&'a Value> {
    let mut cur = root;
    for step in path {
        cur = match step {
            Value::String(k) => cur.get(k)?,
            Value::Number(n) => cur.get(usize::try_from(n.as_u64()?).ok()?)?,
            _ => return Some(cur), // null (all elements): show the array itself
        };
    }
    Some(cur)
}

/// An `ldp_vc` credential's claims for display: `{"credentialSubject":
/// {...}}`, so the metadata's `["credentialSubject", name]` paths resolve.
fn ldp_vc_claims(credential: &Value) -> Option<serde_json::Map<String, Value>> {
    let subject = credential.get("credentialSubject")?;
    let subject = match subject {
        // A list of subjects: the first is the holder's.
        Value::Array(list) => list.first()?.clone(),
        other => other.clone(),
    };
    subject.is_object().then(|| {
        let mut claims = serde_json::Map::new();
        claims.insert("credentialSubject".into(), subject);
        claims
    })
}

pub(crate) fn is_sd_jwt(format: &str) -> bool {
    format == "dc+sd-jwt" || format == "vc+sd-jwt"
}

/// Checks the credentials of a 200 response and decodes SD-JWTs: shape per
/// format, count, `vct`, and the `cnf` key being one of ours (matched by key,
/// not by position: issuers may reorder a batch).
/// Why a credential response was refused: its shape (the issuer broke the
/// protocol) or a check of a credential itself.
pub(crate) enum Rejected {
    Shape(String),
    Check(String),
}

impl Rejected {
    pub(crate) fn into_error(
        self,
        bad: impl FnOnce(String) -> Error,
        issued: &CredentialResponse,
    ) -> Error {
        match self {
            Rejected::Shape(m) => bad(m),
            Rejected::Check(m) => Error::CredentialCheck(
                CredentialRejection::new(m).with_credentials(
                    issued
                        .credentials
                        .iter()
                        .flatten()
                        .map(|c| c.credential.clone())
                        .collect(),
                    issued.notification_id.clone(),
                ),
            ),
        }
    }
}

pub(crate) fn issued_credentials(
    authorized: &Authorized,
    plan: &CredentialPlan,
    body: &CredentialResponse,
) -> std::result::Result<Vec<IssuedCredential>, Rejected> {
    let list = body
        .credentials
        .as_ref()
        .ok_or_else(|| Rejected::Shape("neither credentials nor transaction_id".into()))?;
    if list.is_empty() {
        return Err(Rejected::Shape("field credentials: empty array".into()));
    }
    let expected = plan.holder_jwks.len().max(1);
    if list.len() > expected {
        return Err(Rejected::Shape(format!(
            "{} credentials for {expected} requested",
            list.len()
        )));
    }
    let configuration = authorized
        .context
        .configuration(&plan.configuration_id)
        .map_err(|e| Rejected::Shape(e.to_string()))?;
    let mut used_keys = vec![false; plan.holder_jwks.len()];
    let mut out = Vec::with_capacity(list.len());
    for (i, object) in list.iter().enumerate() {
        let value = object.credential.clone();
        let string_format = plan.format != "ldp_vc";
        if string_format && value.as_str().is_none_or(str::is_empty) {
            return Err(Rejected::Shape(format!(
                "credentials[{i}].credential: expected a non-empty string for format {}",
                plan.format
            )));
        }
        if !string_format && !value.is_object() {
            return Err(Rejected::Shape(format!(
                "credentials[{i}].credential: expected a JSON object for ldp_vc"
            )));
        }
        let mut issued = IssuedCredential {
            configuration_id: plan.configuration_id.clone(),
            format: plan.format.clone(),
            credential: value,
            notification_id: body.notification_id.clone(),
            holder_jwk: None,
            claims: None,
            signature_verified: false,
            verification: not_checked(),
        };
        if is_sd_jwt(&plan.format) {
            let sd = SdJwt::parse(issued.as_str().unwrap_or_default())
                .map_err(|e| Rejected::Check(format!("credentials[{i}]: {e}")))?;
            if let Some(vct) = &configuration.vct {
                if sd.vct() != Some(vct.as_str()) {
                    return Err(Rejected::Check(format!(
                        "credentials[{i}]: vct {:?} is not the configured {vct:?}",
                        sd.vct().map(|v| sanitize(v, 100))
                    )));
                }
            }
            if plan.needs_proofs() {
                let cnf = sd.holder_jwk().ok_or_else(|| {
                    Rejected::Check(format!(
                        "credentials[{i}]: no cnf.jwk (not bound to our key)"
                    ))
                })?;
                let slot = plan
                    .holder_jwks
                    .iter()
                    .enumerate()
                    .position(|(k, jwk)| !used_keys[k] && crate::jose::same_public_key(jwk, cnf))
                    .ok_or_else(|| {
                        Rejected::Check(format!(
                            "credentials[{i}]: cnf.jwk is not one of the wallet's keys"
                        ))
                    })?;
                used_keys[slot] = true;
                issued.holder_jwk = Some(plan.holder_jwks[slot].clone());
            }
            issued.claims = Some(sd.claims().clone());
        } else if plan.format == "jwt_vc_json" {
            let vc = JwtVc::parse(issued.as_str().unwrap_or_default())
                .map_err(|e| Rejected::Check(format!("credentials[{i}]: {e}")))?;
            match (vc.holder_jwk(), plan.needs_proofs()) {
                (Some(holder), true) => {
                    let slot = plan
                        .holder_jwks
                        .iter()
                        .enumerate()
                        .position(|(k, jwk)| {
                            !used_keys[k] && crate::jose::same_public_key(jwk, &holder)
                        })
                        .ok_or_else(|| {
                            Rejected::Check(format!(
                                "credentials[{i}]: the holder key (cnf.jwk or credentialSubject.id) is not one of the wallet's keys"
                            ))
                        })?;
                    used_keys[slot] = true;
                    issued.holder_jwk = Some(plan.holder_jwks[slot].clone());
                }
                _ if plan.holder_jwks.len() == 1 => {
                    issued.holder_jwk = plan.holder_jwks.first().cloned();
                }
                _ => {}
            }
            issued.claims = Some(vc.claims());
        } else if plan.format == "mso_mdoc" {
            let mdoc = Mdoc::parse(issued.as_str().unwrap_or_default())
                .map_err(|e| Rejected::Check(format!("credentials[{i}]: {e}")))?;
            if let Some(doctype) = &configuration.doctype {
                if mdoc.doc_type() != doctype {
                    return Err(Rejected::Check(format!(
                        "credentials[{i}]: docType {:?} is not the configured {doctype:?}",
                        sanitize(mdoc.doc_type(), 100)
                    )));
                }
            }
            if plan.needs_proofs() {
                let slot = plan
                    .holder_jwks
                    .iter()
                    .enumerate()
                    .position(|(k, jwk)| {
                        !used_keys[k] && crate::jose::same_public_key(jwk, mdoc.device_jwk())
                    })
                    .ok_or_else(|| {
                        Rejected::Check(format!(
                            "credentials[{i}]: deviceKey is not one of the wallet's keys"
                        ))
                    })?;
                used_keys[slot] = true;
                issued.holder_jwk = Some(plan.holder_jwks[slot].clone());
            }
            issued.claims = Some(mdoc.claims());
        } else {
            if plan.holder_jwks.len() == 1 {
                issued.holder_jwk = plan.holder_jwks.first().cloned();
            }
            if plan.format == "ldp_vc" {
                // Shown, not checked: its Data Integrity proof is reported
                // unverified (no well-kept Rust crate for its suites yet).
                issued.claims = ldp_vc_claims(&issued.credential);
                issued.verification = Verification::unverified(
                    "ldp_vc: Data Integrity proofs are not checked by this wallet",
                );
            }
        }
        out.push(issued);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldp_vc_subjects_are_shown_as_credential_subject_claims() {
        let vc = serde_json::json!({
            "@context": ["https://www.w3.org/2018/credentials/v1"],
            "type": ["VerifiableCredential"],
            "credentialSubject": [{"id": "did:example:1", "given_name": "Erika"}, {"id": "x"}],
            "proof": {"type": "DataIntegrityProof"}
        });
        let claims = ldp_vc_claims(&vc).unwrap();
        assert_eq!(claims["credentialSubject"]["given_name"], "Erika");
        assert!(ldp_vc_claims(&serde_json::json!({"credentialSubject": "x"})).is_none());
        assert!(ldp_vc_claims(&serde_json::json!({})).is_none());
    }
}
