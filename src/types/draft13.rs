//! Older shapes (OID4VCI draft 13, and draft 11/12 offers) normalised to the
//! 1.0 shapes before the typed parse, so the rest of the engine sees one
//! model (draft 11/12 issuer metadata: [`super::draft11`]). What to send back is then decided from the detected version
//! ([`SpecVersion`]), never by retrying after errors.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Which version of OID4VCI the issuer's metadata looks like.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpecVersion {
    /// OID4VCI 1.0 (and drafts 14-15, which share its request shapes).
    #[default]
    V1,
    /// Draft 13: `c_nonce` from the token endpoint, `proof` and `format` in the
    /// credential request, a single `credential` in the response.
    Draft13,
    /// Draft 12: `credentials_supported` keyed by id. As draft 11 (the PIN
    /// sent as `user_pin`, `c_nonce` from the token endpoint, one `proof`,
    /// a single `credential` in the response), but a `jwt_vc_json` request
    /// names its types in `credential_definition.type`, and a
    /// `credential_identifier` from the token response is sent instead of
    /// `format`.
    Draft12,
    /// Draft 11: `credentials_supported` as an array (metadata only at the
    /// appended well-known URL), the PIN sent as `user_pin`, `c_nonce` from
    /// the token endpoint, credential requests by `format` and type (`vct`,
    /// `doctype`, `types`) with one `proof`, a single `credential` in the
    /// response, and deferred issuance by `acceptance_token`.
    Draft11,
}

impl SpecVersion {
    /// Drafts 11 and 12: `credentials_supported`, `user_pin`, requests by
    /// `format` with draft 11/12's type parameters.
    pub(crate) fn is_draft11_or_12(self) -> bool {
        matches!(self, SpecVersion::Draft11 | SpecVersion::Draft12)
    }
}

/// The member that carries the detected version inside normalised metadata.
/// Always overwritten during normalisation, so an issuer cannot set it.
pub(crate) const VERSION_MEMBER: &str = "x-oid4vci-wallet-detected-version";

/// Normalises issuer metadata in place and records the detected version.
/// `appended_url` says the document came from the draft-13 appended URL.
pub(crate) fn normalize_issuer_metadata(doc: &mut Value, appended_url: bool) -> SpecVersion {
    let Some(root) = doc.as_object_mut() else {
        return SpecVersion::V1;
    };
    let mut draft13 = appended_url
        || root.contains_key("batch_credential_endpoint")
        || root.contains_key("credential_identifiers_supported");
    let mut v1 =
        root.contains_key("nonce_endpoint") || root.contains_key("batch_credential_issuance");
    if let Some(Value::Object(configs)) = root.get_mut("credential_configurations_supported") {
        for config in configs.values_mut() {
            let Some(config) = config.as_object_mut() else {
                continue;
            };
            v1 |= config.contains_key("credential_metadata");
            if config.get("format").and_then(Value::as_str) == Some("vc+sd-jwt") {
                draft13 = true;
            }
            let display = config.remove("display");
            let claims = config.remove("claims");
            let claims_list = match claims {
                Some(Value::Object(map)) => {
                    draft13 = true;
                    let mut out = Vec::new();
                    flatten_claims(&map, &mut Vec::new(), &mut out, 0);
                    Some(Value::Array(out))
                }
                // 1.0 draft 14/15 put the list here before credential_metadata.
                Some(list @ Value::Array(_)) => Some(list),
                Some(other) => {
                    // Keep the wrong type where the typed parse names it.
                    config.insert("claims".into(), other);
                    None
                }
                None => None,
            };
            if display.is_some() || claims_list.is_some() {
                let metadata = config
                    .entry("credential_metadata")
                    .or_insert_with(|| json!({}));
                if let Some(m) = metadata.as_object_mut() {
                    if let Some(d) = display {
                        m.entry("display").or_insert(d);
                    }
                    if let Some(c) = claims_list {
                        m.entry("claims").or_insert(c);
                    }
                }
            }
        }
    }
    let version = if draft13 && !v1 {
        SpecVersion::Draft13
    } else {
        SpecVersion::V1
    };
    root.insert(VERSION_MEMBER.into(), json!(version));
    version
}

/// Keys of a draft-13 claim description (as opposed to nested claim names).
const DESCRIPTION_KEYS: [&str; 4] = ["display", "mandatory", "value_type", "order"];

/// Turns draft 13's nested claim map into 1.0 `{path, mandatory, display}`
/// entries (depth-bounded).
fn flatten_claims(
    map: &Map<String, Value>,
    path: &mut Vec<String>,
    out: &mut Vec<Value>,
    depth: usize,
) {
    if depth > 8 {
        return;
    }
    for (name, value) in map {
        if DESCRIPTION_KEYS.contains(&name.as_str()) && depth > 0 {
            continue;
        }
        let Value::Object(inner) = value else {
            continue;
        };
        path.push(name.clone());
        let mut entry = Map::new();
        entry.insert("path".into(), json!(path));
        if let Some(m) = inner.get("mandatory").filter(|m| m.is_boolean()) {
            entry.insert("mandatory".into(), m.clone());
        }
        if let Some(d) = inner.get("display").filter(|d| d.is_array()) {
            entry.insert("display".into(), d.clone());
        }
        out.push(Value::Object(entry));
        let nested: Map<String, Value> = inner
            .iter()
            .filter(|(k, v)| !DESCRIPTION_KEYS.contains(&k.as_str()) && v.is_object())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        flatten_claims(&nested, path, out, depth + 1);
        path.pop();
    }
}

/// The member that carries draft-11/12 `credentials` objects until the
/// metadata is known (see [`resolve_legacy_offer_ids`]).
pub(crate) const LEGACY_CREDENTIALS_MEMBER: &str = "x-oid4vci-wallet-legacy-credentials";

/// Normalises a draft 11/12 offer in place: `credentials` (ids, or objects
/// kept for matching against the metadata) become
/// `credential_configuration_ids`; `user_pin_required: true` becomes an
/// empty `tx_code` object.
pub(crate) fn normalize_offer(doc: &mut Value) {
    let Some(root) = doc.as_object_mut() else {
        return;
    };
    root.remove(LEGACY_CREDENTIALS_MEMBER);
    if !root.contains_key("credential_configuration_ids") {
        if let Some(Value::Array(list)) = root.remove("credentials") {
            let ids: Vec<Value> = list.iter().filter(|v| v.is_string()).cloned().collect();
            let objects: Vec<Value> = list.into_iter().filter(Value::is_object).collect();
            root.insert("credential_configuration_ids".into(), Value::Array(ids));
            if !objects.is_empty() {
                root.insert(LEGACY_CREDENTIALS_MEMBER.into(), Value::Array(objects));
            }
        }
    }
    if let Some(Value::Object(grants)) = root.get_mut("grants") {
        if let Some(Value::Object(pre)) =
            grants.get_mut("urn:ietf:params:oauth:grant-type:pre-authorized_code")
        {
            if pre.remove("user_pin_required") == Some(Value::Bool(true))
                && !pre.contains_key("tx_code")
            {
                pre.insert("tx_code".into(), json!({}));
            }
        }
    }
}

/// Maps draft-11/12 credential objects (`format` plus `vct`, `doctype` or
/// `types`/`credential_definition.type`) to configuration ids of `metadata`.
/// Returns the unmatched object's description on failure.
pub(crate) fn resolve_legacy_offer_ids(
    objects: &[Value],
    configurations: &std::collections::BTreeMap<String, super::CredentialConfiguration>,
) -> Result<Vec<String>, String> {
    let mut ids = Vec::new();
    for object in objects {
        let format = object.get("format").and_then(Value::as_str);
        let vct = object.get("vct").and_then(Value::as_str);
        let doctype = object.get("doctype").and_then(Value::as_str);
        let types = object.get("types").or_else(|| {
            object
                .get("credential_definition")
                .and_then(|d| d.get("type"))
        });
        let found = configurations.iter().find(|(_, c)| {
            let same_format =
                format.is_none_or(|f| f == c.format || (is_sd_jwt(f) && is_sd_jwt(&c.format)));
            let same_type = match (vct, doctype, types) {
                (Some(v), _, _) => c.vct.as_deref() == Some(v),
                (_, Some(d), _) => c.doctype.as_deref() == Some(d),
                (_, _, Some(t)) => {
                    c.credential_definition.as_ref().and_then(|d| d.get("type")) == Some(t)
                }
                _ => false,
            };
            same_format && same_type
        });
        match found {
            Some((id, _)) => ids.push(id.clone()),
            None => {
                return Err(format!(
                    "offered credential {} matches no credential configuration in the metadata",
                    crate::error::sanitize(&object.to_string(), 120)
                ))
            }
        }
    }
    Ok(ids)
}

fn is_sd_jwt(format: &str) -> bool {
    format == "dc+sd-jwt" || format == "vc+sd-jwt"
}

/// Normalises a credential or deferred response body: a draft-13 single
/// `credential` becomes a one-element `credentials` array.
pub(crate) fn normalize_credential_response(doc: &mut Value) {
    let Some(root) = doc.as_object_mut() else {
        return;
    };
    if !root.contains_key("credentials") {
        if let Some(credential) = root.remove("credential") {
            root.insert("credentials".into(), json!([{ "credential": credential }]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draft13_configuration_display_and_nested_claims_move_to_credential_metadata() {
        let mut doc = json!({
            "credential_issuer": "https://i.ex",
            "credential_endpoint": "https://i.ex/c",
            "credential_configurations_supported": {"pid": {
                "format": "vc+sd-jwt", "vct": "urn:pid",
                "display": [{"name": "PID", "locale": "en"}],
                "claims": {
                    "given_name": {"mandatory": true, "display": [{"name": "Vorname", "locale": "de"}]},
                    "address": {"display": [{"name": "Address"}],
                                "locality": {"display": [{"name": "City"}]}}
                }
            }}
        });
        assert_eq!(
            normalize_issuer_metadata(&mut doc, false),
            SpecVersion::Draft13
        );
        let m = &doc["credential_configurations_supported"]["pid"]["credential_metadata"];
        assert_eq!(m["display"][0]["name"], "PID");
        let claims = m["claims"].as_array().unwrap();
        let paths: Vec<&Value> = claims.iter().map(|c| &c["path"]).collect();
        assert!(paths.contains(&&json!(["given_name"])));
        assert!(paths.contains(&&json!(["address"])));
        assert!(paths.contains(&&json!(["address", "locality"])));
        assert_eq!(claims.len(), 3);
        let typed: super::super::IssuerMetadata = serde_json::from_value(doc).unwrap();
        assert_eq!(typed.detected_version, SpecVersion::Draft13);
    }

    #[test]
    fn a_nonce_endpoint_or_credential_metadata_means_1_0_and_an_issuer_cannot_claim_a_version() {
        let mut doc = json!({"nonce_endpoint": "https://i.ex/n", VERSION_MEMBER: "draft13",
                             "credential_configurations_supported": {}});
        assert_eq!(normalize_issuer_metadata(&mut doc, true), SpecVersion::V1);
        assert_eq!(doc[VERSION_MEMBER], "v1");
    }

    #[test]
    fn draft11_offers_become_configuration_ids_and_a_pin_becomes_a_tx_code() {
        let mut doc = json!({
            "credential_issuer": "https://i.ex",
            "credentials": ["pid", {"format": "vc+sd-jwt", "vct": "urn:x"}],
            "grants": {"urn:ietf:params:oauth:grant-type:pre-authorized_code": {
                "pre-authorized_code": "c", "user_pin_required": true}}
        });
        normalize_offer(&mut doc);
        assert_eq!(doc["credential_configuration_ids"], json!(["pid"]));
        assert_eq!(doc[LEGACY_CREDENTIALS_MEMBER][0]["vct"], "urn:x");
        assert_eq!(
            doc["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"]["tx_code"],
            json!({})
        );
    }

    #[test]
    fn a_single_credential_becomes_a_list() {
        let mut doc = json!({"credential": "a~", "c_nonce": "n"});
        normalize_credential_response(&mut doc);
        assert_eq!(doc["credentials"], json!([{"credential": "a~"}]));
    }
}
