//! OID4VCI drafts 11 and 12: issuer metadata with `credentials_supported`
//! and the credential request by `format`, as serde types, and the
//! conversion of the metadata into the 1.0 model ([`IssuerMetadata`]) the
//! rest of the engine reads (as [`super::draft13`] normalises draft 13).
//!
//! Draft 11 lists `credentials_supported` as an array of objects, each with
//! an optional `id` (`jwt_vc_json`: `types` and `credentialSubject` at the
//! top of the object); draft 12 as an object keyed by id (`jwt_vc_json`:
//! `credential_definition.type`). Both call the signing algorithms
//! `cryptographic_suites_supported` and list the proof types by name
//! (`["jwt"]`). SD-JWT VCs are `vc+sd-jwt` with a `vct`, mdocs `mso_mdoc`
//! with a `doctype`.

use super::metadata::{
    ClaimDescription, CredentialConfiguration, CredentialMetadata, Display, IssuerMetadata,
    ProofTypeMetadata,
};
use super::SpecVersion;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Why a draft 11/12 document cannot be read or converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Draft11Error {
    /// Not a draft 11/12 metadata document: where and what (sanitised).
    #[error("draft 11/12 issuer metadata: {0}")]
    Malformed(String),
    /// Two `credentials_supported` entries have the same `id`.
    #[error("draft 11/12 issuer metadata: credentials_supported: the id {0:?} appears twice")]
    DuplicateId(String),
    /// An entry lacks the type parameter its format needs.
    #[error(
        "draft 11/12 issuer metadata: credentials_supported {id:?}: format {format:?} needs {missing}"
    )]
    MissingType {
        /// The entry's id (given or made up, see [`Draft11IssuerMetadata::into_issuer_metadata`]).
        id: String,
        /// Its format.
        format: String,
        /// What is missing (`vct`, `doctype`, `types`).
        missing: &'static str,
    },
}

/// Draft 11/12 credential issuer metadata. Unknown members are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Draft11IssuerMetadata {
    /// The issuer identifier.
    pub(crate) credential_issuer: String,
    /// Draft 11: the one authorization server (absent: the issuer is its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) authorization_server: Option<String>,
    /// Draft 12: the authorization servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) authorization_servers: Option<Vec<String>>,
    /// The credential endpoint.
    pub(crate) credential_endpoint: String,
    /// The batch credential endpoint (not mapped to 1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) batch_credential_endpoint: Option<String>,
    /// The deferred credential endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) deferred_credential_endpoint: Option<String>,
    /// How the issuer names itself, per locale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) display: Option<Vec<Display>>,
    /// The credentials the issuer can issue.
    pub(crate) credentials_supported: CredentialsSupported,
}

/// `credentials_supported`: draft 11's array or draft 12's object by id.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub(crate) enum CredentialsSupported {
    /// Draft 11: entries with an optional `id`.
    List(Vec<CredentialSupported>),
    /// Draft 12: entries by id.
    Map(BTreeMap<String, CredentialSupported>),
}

impl<'de> Deserialize<'de> for CredentialsSupported {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        // Each entry on its own, so an error names the entry and its field.
        fn entry<E: serde::de::Error>(at: String, value: Value) -> Result<CredentialSupported, E> {
            serde_path_to_error::deserialize(value).map_err(|e| {
                let path = e.path().to_string();
                let inner = crate::error::sanitize(&e.into_inner().to_string(), 160);
                if path == "." || path.is_empty() {
                    E::custom(format!("{at}: {inner}"))
                } else {
                    E::custom(format!("{at}.{path}: {inner}"))
                }
            })
        }
        match Value::deserialize(deserializer)? {
            Value::Array(list) => list
                .into_iter()
                .enumerate()
                .map(|(i, v)| entry(format!("[{i}]"), v))
                .collect::<Result<_, _>>()
                .map(CredentialsSupported::List),
            Value::Object(map) => map
                .into_iter()
                .map(|(id, v)| {
                    let at = format!("[{:?}]", crate::error::sanitize(&id, 64));
                    entry(at, v).map(|e| (id, e))
                })
                .collect::<Result<_, _>>()
                .map(CredentialsSupported::Map),
            _ => Err(D::Error::custom(
                "must be an array (draft 11) or an object keyed by id (draft 12)",
            )),
        }
    }
}

/// One entry of `credentials_supported`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct CredentialSupported {
    /// Credential format (`jwt_vc_json`, `vc+sd-jwt`, `mso_mdoc`, `ldp_vc`, ...).
    pub(crate) format: String,
    /// Draft 11: the entry's identifier (offers may name it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    /// OAuth scope for this credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) scope: Option<String>,
    /// Present: the credential is bound to a key of the wallet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cryptographic_binding_methods_supported: Option<Vec<String>>,
    /// The algorithms of the credential and of its bound keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cryptographic_suites_supported: Option<Vec<Value>>,
    /// The later name some draft-12 issuers already use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) credential_signing_alg_values_supported: Option<Vec<Value>>,
    /// The proof types accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) proof_types_supported: Option<ProofTypesSupported>,
    /// Display entries of the credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) display: Option<Vec<Display>>,
    /// Draft 11 `jwt_vc_json` (and `ldp_vc`): the credential types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) types: Option<Vec<String>>,
    /// Draft 11 `ldp_vc`, `jwt_vc_json-ld`: the JSON-LD contexts.
    #[serde(default, rename = "@context", skip_serializing_if = "Option::is_none")]
    pub(crate) context: Option<Vec<Value>>,
    /// Draft 11 `jwt_vc_json`: the claims, nested as the credential has them.
    #[serde(
        default,
        rename = "credentialSubject",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) credential_subject: Option<Map<String, Value>>,
    /// Draft 12 (`jwt_vc_json`, `ldp_vc`): type, contexts and claims.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) credential_definition: Option<CredentialDefinition>,
    /// SD-JWT VC type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) vct: Option<String>,
    /// mdoc doctype.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) doctype: Option<String>,
    /// SD-JWT claims (nested) or mdoc claims (namespace, then element).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) claims: Option<Map<String, Value>>,
    /// Display names of the claims in the order to show them (not mapped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) order: Option<Vec<String>>,
}

/// `credential_definition` (draft 12; draft 11 `ldp_vc` offers and requests).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct CredentialDefinition {
    /// The JSON-LD contexts.
    #[serde(default, rename = "@context", skip_serializing_if = "Option::is_none")]
    pub(crate) context: Option<Vec<Value>>,
    /// The credential types (draft 11 spelled it `types`).
    #[serde(
        default,
        rename = "type",
        alias = "types",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) types: Option<Vec<String>>,
    /// The claims, nested as the credential has them.
    #[serde(
        default,
        rename = "credentialSubject",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) credential_subject: Option<Map<String, Value>>,
}

/// `proof_types_supported`: drafts 11 and 12 list names; some draft-12
/// issuers already send draft 13's object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub(crate) enum ProofTypesSupported {
    /// `["jwt"]`.
    Names(Vec<String>),
    /// `{"jwt": {"proof_signing_alg_values_supported": [...]}}`.
    Map(BTreeMap<String, ProofTypeMetadata>),
}

impl<'de> Deserialize<'de> for ProofTypesSupported {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        match Value::deserialize(deserializer)? {
            list @ Value::Array(_) => serde_json::from_value(list)
                .map(ProofTypesSupported::Names)
                .map_err(|_| D::Error::custom("must be an array of proof type names")),
            map @ Value::Object(_) => serde_json::from_value(map)
                .map(ProofTypesSupported::Map)
                .map_err(|e| D::Error::custom(crate::error::sanitize(&e.to_string(), 120))),
            _ => Err(D::Error::custom(
                "must be an array of proof type names (or an object of proof types)",
            )),
        }
    }
}

/// A draft 11/12 credential request body: the credential named by `format`
/// and its type parameter (or, draft 12, by a `credential_identifier` of the
/// token response), with one `proof`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Draft11CredentialRequest {
    /// The format (`vc+sd-jwt`, `jwt_vc_json`, `mso_mdoc`, ...); absent
    /// with a `credential_identifier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) format: Option<String>,
    /// Draft 12: the credential identifier the token response gave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) credential_identifier: Option<String>,
    /// Draft 11 `jwt_vc_json`: the credential types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) types: Option<Vec<String>>,
    /// Draft 12 `jwt_vc_json` (and `ldp_vc`): `{"type": [...]}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) credential_definition: Option<CredentialDefinition>,
    /// SD-JWT VC type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) vct: Option<String>,
    /// mdoc doctype.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) doctype: Option<String>,
    /// The proof of possession of the key to bind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) proof: Option<Draft11Proof>,
}

/// `proof`: `{"proof_type": "jwt", "jwt": "..."}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Draft11Proof {
    /// `jwt`.
    pub(crate) proof_type: String,
    /// The `openid4vci-proof+jwt`.
    pub(crate) jwt: String,
}

impl Draft11Proof {
    /// A `jwt` proof.
    pub(crate) fn jwt(jwt: impl Into<String>) -> Self {
        Draft11Proof {
            proof_type: "jwt".into(),
            jwt: jwt.into(),
        }
    }
}

impl Draft11CredentialRequest {
    /// The request for a configuration converted by
    /// [`Draft11IssuerMetadata::into_issuer_metadata`]: its `format`, and
    /// `vct`, `doctype`, or the types of `credential_definition.type` (as
    /// `types` for [`SpecVersion::Draft11`], as `credential_definition` for
    /// [`SpecVersion::Draft12`]), with `proof` when given.
    pub(crate) fn for_configuration(
        configuration: &CredentialConfiguration,
        version: SpecVersion,
        proof: Option<Draft11Proof>,
    ) -> Self {
        let types: Option<Vec<String>> = configuration
            .credential_definition
            .as_ref()
            .and_then(|d| d.get("type"))
            .and_then(|t| serde_json::from_value(t.clone()).ok());
        let (types, credential_definition) = match (types, version) {
            (None, _) => (None, None),
            (Some(types), SpecVersion::Draft12) => (
                None,
                Some(CredentialDefinition {
                    types: Some(types),
                    ..Default::default()
                }),
            ),
            (Some(types), _) => (Some(types), None),
        };
        Draft11CredentialRequest {
            format: Some(configuration.format.clone()),
            credential_identifier: None,
            types,
            credential_definition,
            vct: configuration.vct.clone(),
            doctype: configuration.doctype.clone(),
            proof,
        }
    }

    /// Draft 12: the request for a `credential_identifier` the token
    /// response gave (no `format`, no type parameters).
    pub(crate) fn for_identifier(identifier: &str, proof: Option<Draft11Proof>) -> Self {
        Draft11CredentialRequest {
            credential_identifier: Some(identifier.to_string()),
            proof,
            ..Default::default()
        }
    }
}

/// Whether an issuer metadata document is in the draft 11/12 shape:
/// `credentials_supported` and no `credential_configurations_supported`.
pub(crate) fn is_draft11_metadata(doc: &Value) -> bool {
    doc.get("credentials_supported").is_some()
        && doc.get("credential_configurations_supported").is_none()
}

/// Parses a draft 11/12 metadata document (a typed error names the field).
pub(crate) fn parse_issuer_metadata(doc: &Value) -> Result<Draft11IssuerMetadata, Draft11Error> {
    if !doc.is_object() {
        return Err(Draft11Error::Malformed("not a JSON object".into()));
    }
    serde_path_to_error::deserialize(doc).map_err(|e| {
        let path = e.path().to_string();
        let inner = crate::error::sanitize(&e.into_inner().to_string(), 200);
        Draft11Error::Malformed(if path == "." || path.is_empty() {
            inner
        } else {
            format!("field {path}: {inner}")
        })
    })
}

/// Parses a draft 11/12 metadata document and converts it into the 1.0
/// model (see [`Draft11IssuerMetadata::into_issuer_metadata`]).
pub(crate) fn issuer_metadata_from_draft11(doc: &Value) -> Result<IssuerMetadata, Draft11Error> {
    parse_issuer_metadata(doc)?.into_issuer_metadata()
}

impl Draft11IssuerMetadata {
    /// Draft 11 (an array) or 12 (an object by id).
    pub(crate) fn draft(&self) -> SpecVersion {
        match self.credentials_supported {
            CredentialsSupported::List(_) => SpecVersion::Draft11,
            CredentialsSupported::Map(_) => SpecVersion::Draft12,
        }
    }

    /// The 1.0 model of this document:
    ///
    /// - `authorization_servers`: draft 12's list, or draft 11's one
    ///   `authorization_server`; the endpoints and `display` as they are;
    ///   no nonce endpoint, batch or encryption parameters (draft 12's
    ///   encryption parameters are ignored);
    /// - `credential_configurations_supported` by id: draft 12's keys;
    ///   draft 11's `id`s, or for an entry without one `<format>:<vct,
    ///   doctype or last type>` (`credentials_supported[<index>]` without a
    ///   type; `#<index>` appended if taken);
    /// - per entry: `format` (`vc+sd-jwt` stays, the request sends it
    ///   back), `scope`, `vct`, `doctype`,
    ///   `cryptographic_binding_methods_supported` as they are;
    ///   `credential_signing_alg_values_supported` from itself or
    ///   `cryptographic_suites_supported`; `proof_types_supported` names
    ///   become proof types whose `proof_signing_alg_values_supported` are
    ///   the algorithm names of `cryptographic_suites_supported` (draft 11
    ///   defines them as the suites of the bound keys; none listed: none);
    ///   `credential_definition` `{"type", "@context"}` from `types` (draft
    ///   11) or `credential_definition` (draft 12); `display` and the claims
    ///   (`credentialSubject` under the path `credentialSubject`, SD-JWT
    ///   `claims` nested, mdoc `claims` as `[namespace, element]`) in
    ///   `credential_metadata`;
    /// - `detected_version`: [`SpecVersion::Draft11`] or
    ///   [`SpecVersion::Draft12`] ([`Self::draft`]), which decides the shapes
    ///   of the token and credential requests.
    ///
    /// Errors: a duplicate `id`; `vc+sd-jwt` without `vct`, `mso_mdoc`
    /// without `doctype`, a W3C VC format without types.
    pub(crate) fn into_issuer_metadata(self) -> Result<IssuerMetadata, Draft11Error> {
        let detected_version = self.draft();
        let authorization_servers = self
            .authorization_servers
            .or_else(|| self.authorization_server.map(|a| vec![a]));
        let entries: Vec<(String, CredentialSupported)> = match self.credentials_supported {
            CredentialsSupported::Map(map) => map.into_iter().collect(),
            CredentialsSupported::List(list) => with_ids(list)?,
        };
        let mut configurations = BTreeMap::new();
        for (id, entry) in entries {
            let configuration = convert(&id, entry)?;
            configurations.insert(id, configuration);
        }
        Ok(IssuerMetadata {
            credential_issuer: self.credential_issuer,
            authorization_servers,
            credential_endpoint: self.credential_endpoint,
            nonce_endpoint: None,
            deferred_credential_endpoint: self.deferred_credential_endpoint,
            notification_endpoint: None,
            batch_credential_issuance: None,
            display: self.display,
            credential_response_encryption: None,
            credential_request_encryption: None,
            credential_configurations_supported: configurations,
            detected_version,
        })
    }
}

/// Draft 11's entries with their ids: given ones (unique), then made up
/// ones for the others.
fn with_ids(
    list: Vec<CredentialSupported>,
) -> Result<Vec<(String, CredentialSupported)>, Draft11Error> {
    let mut taken = BTreeSet::new();
    for id in list.iter().filter_map(|e| e.id.as_ref()) {
        if !taken.insert(id.clone()) {
            return Err(Draft11Error::DuplicateId(crate::error::sanitize(id, 64)));
        }
    }
    let mut out = Vec::with_capacity(list.len());
    for (index, entry) in list.into_iter().enumerate() {
        let id = match &entry.id {
            Some(id) => id.clone(),
            None => {
                let named = entry
                    .vct
                    .as_deref()
                    .or(entry.doctype.as_deref())
                    .or(entry_types(&entry)
                        .and_then(|t| t.last())
                        .map(String::as_str))
                    .map(|t| format!("{}:{t}", entry.format));
                let mut id = named.unwrap_or_else(|| format!("credentials_supported[{index}]"));
                if taken.contains(&id) {
                    id = format!("{id}#{index}");
                }
                taken.insert(id.clone());
                id
            }
        };
        out.push((id, entry));
    }
    Ok(out)
}

/// The credential types: draft 11's `types`, or `credential_definition`'s.
fn entry_types(entry: &CredentialSupported) -> Option<&Vec<String>> {
    entry
        .types
        .as_ref()
        .or_else(|| entry.credential_definition.as_ref()?.types.as_ref())
}

fn is_w3c(format: &str) -> bool {
    matches!(
        format,
        "jwt_vc_json" | "jwt_vc_json-ld" | "ldp_vc" | "jwt_vc"
    )
}

/// One entry in the 1.0 model (see [`Draft11IssuerMetadata::into_issuer_metadata`]).
fn convert(id: &str, entry: CredentialSupported) -> Result<CredentialConfiguration, Draft11Error> {
    let missing = |missing| Draft11Error::MissingType {
        id: crate::error::sanitize(id, 64),
        format: crate::error::sanitize(&entry.format, 32),
        missing,
    };
    let format = entry.format.as_str();
    if matches!(format, "vc+sd-jwt" | "dc+sd-jwt") && entry.vct.is_none() {
        return Err(missing("vct"));
    }
    if format == "mso_mdoc" && entry.doctype.is_none() {
        return Err(missing("doctype"));
    }
    let types = entry_types(&entry).cloned();
    if is_w3c(format) && types.is_none() {
        return Err(missing("types"));
    }
    let context = entry
        .context
        .clone()
        .or_else(|| entry.credential_definition.as_ref()?.context.clone());
    let credential_definition = types.map(|types| {
        let mut definition = json!({ "type": types });
        if let Some(context) = context {
            definition["@context"] = json!(context);
        }
        definition
    });

    let at = |what: &str| {
        format!(
            "credentials_supported[{:?}].{what}",
            crate::error::sanitize(id, 64)
        )
    };
    let mut claims = Vec::new();
    let subject = entry.credential_subject.as_ref().or_else(|| {
        entry
            .credential_definition
            .as_ref()?
            .credential_subject
            .as_ref()
    });
    if let Some(subject) = subject {
        let mut path = vec![json!("credentialSubject")];
        flatten(
            subject,
            &mut path,
            &mut claims,
            None,
            &at("credentialSubject"),
        )?;
    }
    if let Some(map) = &entry.claims {
        // mdoc claims: namespace, then element (no deeper).
        let depth = (format == "mso_mdoc").then_some(2);
        flatten(map, &mut Vec::new(), &mut claims, depth, &at("claims"))?;
    }

    let suites = entry.cryptographic_suites_supported.clone();
    let proof_algorithms: Vec<String> = suites
        .iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect();
    let proof_types_supported = entry.proof_types_supported.map(|p| match p {
        ProofTypesSupported::Names(names) => names
            .into_iter()
            .map(|name| {
                let metadata = ProofTypeMetadata {
                    proof_signing_alg_values_supported: proof_algorithms.clone(),
                    key_attestations_required: None,
                };
                (name, metadata)
            })
            .collect(),
        ProofTypesSupported::Map(map) => map,
    });
    // Drafts 11 and 12 made `proof_types_supported` optional: a credential
    // with binding methods and no proof types is still key-bound, by the
    // one proof type those drafts define (`jwt`), signed with the listed
    // suites (ES256 when none are listed).
    let binds = entry
        .cryptographic_binding_methods_supported
        .as_ref()
        .is_some_and(|m| !m.is_empty());
    let proof_types_supported = match proof_types_supported {
        None if binds => Some(
            [(
                "jwt".to_string(),
                ProofTypeMetadata {
                    proof_signing_alg_values_supported: if proof_algorithms.is_empty() {
                        vec!["ES256".to_string()]
                    } else {
                        proof_algorithms.clone()
                    },
                    key_attestations_required: None,
                },
            )]
            .into_iter()
            .collect(),
        ),
        other => other,
    };
    let credential_metadata =
        (entry.display.is_some() || !claims.is_empty()).then(|| CredentialMetadata {
            display: entry.display,
            claims: (!claims.is_empty()).then_some(claims),
        });
    Ok(CredentialConfiguration {
        format: entry.format,
        scope: entry.scope,
        vct: entry.vct,
        doctype: entry.doctype,
        cryptographic_binding_methods_supported: entry.cryptographic_binding_methods_supported,
        credential_signing_alg_values_supported: entry
            .credential_signing_alg_values_supported
            .or(suites),
        proof_types_supported,
        credential_metadata,
        credential_definition,
        display: None,
    })
}

/// Members of a claim's description, as opposed to nested claim names.
const DESCRIPTION_KEYS: [&str; 3] = ["mandatory", "value_type", "display"];

/// How deep claims nest before the rest is ignored.
const MAX_CLAIM_DEPTH: usize = 8;

/// Flattens a nested claims map into 1.0 claim descriptions under `path`:
/// one per claim (`mandatory`, `display`), nested claims after their
/// parent. With `only_depth`, only claims at that depth (counted from 1)
/// are described (mdoc: the elements, not the namespaces). Values that are
/// not objects are skipped; a `display` that is not a list of display
/// entries is an error (`at` names the map).
fn flatten(
    map: &Map<String, Value>,
    path: &mut Vec<Value>,
    out: &mut Vec<ClaimDescription>,
    only_depth: Option<usize>,
    at: &str,
) -> Result<(), Draft11Error> {
    let depth = path.len() + 1;
    if depth > MAX_CLAIM_DEPTH {
        return Ok(());
    }
    for (name, value) in map {
        let Value::Object(inner) = value else {
            continue;
        };
        path.push(json!(name));
        let here = format!("{at}.{}", crate::error::sanitize(name, 64));
        if only_depth.is_none_or(|d| d == path.len()) {
            let display = match inner.get("display") {
                None => None,
                Some(d) => Some(serde_json::from_value::<Vec<Display>>(d.clone()).map_err(
                    |e| {
                        Draft11Error::Malformed(format!(
                            "field {here}.display: {}",
                            crate::error::sanitize(&e.to_string(), 120)
                        ))
                    },
                )?),
            };
            out.push(ClaimDescription {
                path: path.clone(),
                mandatory: inner.get("mandatory").and_then(Value::as_bool),
                display,
            });
        }
        if only_depth.is_none_or(|d| path.len() < d) {
            let nested: Map<String, Value> = inner
                .iter()
                .filter(|(k, _)| !DESCRIPTION_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            flatten(&nested, path, out, only_depth, &here)?;
        }
        path.pop();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A draft-11 document as the reference issuer's draft-11 mode serves
    /// it, plus an entry without an `id` in the spec's `jwt_vc_json` shape.
    fn draft11_doc() -> Value {
        json!({
            "credential_issuer": "https://issuer.example/tenant",
            "authorization_server": "https://as.example",
            "credential_endpoint": "https://issuer.example/tenant/credential",
            "deferred_credential_endpoint": "https://issuer.example/tenant/deferred",
            "batch_credential_endpoint": "https://issuer.example/tenant/batch",
            "display": [{"name": "Reference Issuer", "locale": "en"}],
            "credentials_supported": [
                {
                    "format": "vc+sd-jwt",
                    "id": "pid_sd_jwt",
                    "scope": "pid",
                    "vct": "urn:eudi:pid:1",
                    "cryptographic_binding_methods_supported": ["jwk"],
                    "cryptographic_suites_supported": ["ES256"],
                    "proof_types_supported": ["jwt"],
                    "display": [{"name": "Person ID", "locale": "en",
                                 "description": "An identity credential"}],
                    "claims": {
                        "given_name": {"mandatory": true,
                                       "display": [{"name": "Given name", "locale": "en"}]},
                        "address": {"display": [{"name": "Address"}],
                                    "locality": {"display": [{"name": "City"}]}}
                    }
                },
                {
                    "format": "jwt_vc_json",
                    "cryptographic_binding_methods_supported": ["did:jwk", "jwk"],
                    "cryptographic_suites_supported": ["ES256K", "EdDSA"],
                    "proof_types_supported": ["jwt"],
                    "types": ["VerifiableCredential", "UniversityDegreeCredential"],
                    "credentialSubject": {
                        "given_name": {"display": [{"name": "Given Name", "locale": "en-US"}]},
                        "degree": {"value_type": "string"}
                    },
                    "display": [{"name": "University Credential", "locale": "en-US",
                                 "logo": {"url": "https://u.example/logo.png",
                                          "alt_text": "a square logo"},
                                 "background_color": "#12107c", "text_color": "#FFFFFF"}],
                    "order": ["given_name", "degree"]
                },
                {
                    "format": "mso_mdoc",
                    "id": "mdl",
                    "doctype": "org.iso.18013.5.1.mDL",
                    "cryptographic_binding_methods_supported": ["cose_key"],
                    "cryptographic_suites_supported": ["ES256", "ES384"],
                    "proof_types_supported": ["jwt"],
                    "claims": {"org.iso.18013.5.1": {
                        "given_name": {"display": [{"name": "Given Name"}]},
                        "family_name": {"mandatory": true}
                    }}
                },
                {
                    "format": "vc+sd-jwt",
                    "vct": "https://credentials.example/membership",
                    "cryptographic_suites_supported": ["ES256"]
                }
            ]
        })
    }

    /// A draft-12 document: entries by id, `credential_definition.type`,
    /// `authorization_servers`.
    fn draft12_doc() -> Value {
        json!({
            "credential_issuer": "https://issuer.example",
            "authorization_servers": ["https://as1.example", "https://as2.example"],
            "credential_endpoint": "https://issuer.example/credential",
            "credential_identifiers_supported": true,
            "credentials_supported": {
                "UniversityDegree_JWT": {
                    "format": "jwt_vc_json",
                    "scope": "UniversityDegree",
                    "cryptographic_binding_methods_supported": ["did:example"],
                    "cryptographic_suites_supported": ["ES256K"],
                    "proof_types_supported": ["jwt"],
                    "credential_definition": {
                        "type": ["VerifiableCredential", "UniversityDegreeCredential"],
                        "credentialSubject": {
                            "given_name": {"display": [{"name": "Given Name", "locale": "en-US"}]},
                            "gpa": {"display": [{"name": "GPA"}]}
                        }
                    },
                    "display": [{"name": "University Credential", "locale": "en-US"}]
                },
                "SD_JWT_PID": {
                    "format": "vc+sd-jwt",
                    "vct": "urn:eudi:pid:1",
                    "cryptographic_binding_methods_supported": ["jwk"],
                    "cryptographic_suites_supported": ["ES256"],
                    "proof_types_supported": {"jwt": {"proof_signing_alg_values_supported": ["ES256"]}},
                    "claims": {"birthdate": {"mandatory": false}}
                },
                "mDL": {
                    "format": "mso_mdoc",
                    "doctype": "org.iso.18013.5.1.mDL",
                    "cryptographic_binding_methods_supported": ["cose_key"],
                    "credential_signing_alg_values_supported": [-7],
                    "proof_types_supported": ["jwt", "cwt"]
                }
            }
        })
    }

    /// The claim paths, sorted (maps may or may not keep their order).
    fn paths(configuration: &CredentialConfiguration) -> Vec<Value> {
        let mut paths: Vec<Value> = configuration
            .claims()
            .iter()
            .map(|c| Value::Array(c.path.clone()))
            .collect();
        paths.sort_by_key(|p| {
            p.as_array()
                .into_iter()
                .flatten()
                .map(Value::to_string)
                .collect::<Vec<_>>()
        });
        paths
    }

    fn claim(configuration: &CredentialConfiguration, path: Value) -> &ClaimDescription {
        configuration
            .claims()
            .iter()
            .find(|c| Value::Array(c.path.clone()) == path)
            .unwrap_or_else(|| panic!("no claim {path}"))
    }

    #[test]
    fn a_draft11_document_converts_to_the_1_0_model() {
        let doc = draft11_doc();
        assert!(is_draft11_metadata(&doc));
        let parsed = parse_issuer_metadata(&doc).unwrap();
        assert_eq!(parsed.draft(), SpecVersion::Draft11);
        assert_eq!(
            parsed.batch_credential_endpoint.as_deref(),
            Some("https://issuer.example/tenant/batch")
        );
        let metadata = parsed.into_issuer_metadata().unwrap();
        assert_eq!(metadata.credential_issuer, "https://issuer.example/tenant");
        assert_eq!(
            metadata.authorization_servers,
            Some(vec!["https://as.example".to_string()])
        );
        assert_eq!(
            metadata.deferred_credential_endpoint.as_deref(),
            Some("https://issuer.example/tenant/deferred")
        );
        assert_eq!(metadata.nonce_endpoint, None);
        assert_eq!(metadata.batch_credential_issuance, None);
        assert_eq!(metadata.detected_version, SpecVersion::Draft11);
        assert_eq!(
            metadata.display.as_ref().unwrap()[0].name.as_deref(),
            Some("Reference Issuer")
        );
        let configurations = &metadata.credential_configurations_supported;
        let ids: Vec<&str> = configurations.keys().map(String::as_str).collect();
        assert_eq!(
            ids,
            [
                "jwt_vc_json:UniversityDegreeCredential",
                "mdl",
                "pid_sd_jwt",
                "vc+sd-jwt:https://credentials.example/membership",
            ]
        );

        let pid = &configurations["pid_sd_jwt"];
        assert_eq!(pid.format, "vc+sd-jwt");
        assert_eq!(pid.scope.as_deref(), Some("pid"));
        assert_eq!(pid.vct.as_deref(), Some("urn:eudi:pid:1"));
        assert!(pid.requires_key_binding());
        assert_eq!(
            pid.cryptographic_binding_methods_supported,
            Some(vec!["jwk".to_string()])
        );
        assert_eq!(
            pid.credential_signing_alg_values_supported,
            Some(vec![json!("ES256")])
        );
        let proof_types = pid.proof_types_supported.as_ref().unwrap();
        assert_eq!(proof_types.keys().collect::<Vec<_>>(), ["jwt"]);
        assert_eq!(
            proof_types["jwt"].proof_signing_alg_values_supported,
            ["ES256"]
        );
        assert_eq!(pid.displays()[0].name.as_deref(), Some("Person ID"));
        assert_eq!(
            pid.displays()[0].description.as_deref(),
            Some("An identity credential")
        );
        assert_eq!(
            paths(pid),
            [
                json!(["address"]),
                json!(["address", "locality"]),
                json!(["given_name"])
            ]
        );
        assert_eq!(claim(pid, json!(["given_name"])).mandatory, Some(true));
        assert_eq!(claim(pid, json!(["address"])).mandatory, None);
        assert_eq!(
            claim(pid, json!(["address", "locality"])).label_for(&["en".into()]),
            Some("City")
        );
        assert_eq!(pid.display, None);

        let degree = &configurations["jwt_vc_json:UniversityDegreeCredential"];
        assert_eq!(degree.format, "jwt_vc_json");
        assert_eq!(
            degree.credential_definition,
            Some(json!({"type": ["VerifiableCredential", "UniversityDegreeCredential"]}))
        );
        assert_eq!(
            degree.cryptographic_binding_methods_supported,
            Some(vec!["did:jwk".to_string(), "jwk".to_string()])
        );
        assert_eq!(
            degree.proof_types_supported.as_ref().unwrap()["jwt"]
                .proof_signing_alg_values_supported,
            ["ES256K", "EdDSA"]
        );
        let display = &degree.displays()[0];
        assert_eq!(
            display.logo.as_ref().unwrap().uri.as_deref(),
            Some("https://u.example/logo.png")
        );
        assert_eq!(display.background_color.as_deref(), Some("#12107c"));
        assert_eq!(
            paths(degree),
            [
                json!(["credentialSubject", "degree"]),
                json!(["credentialSubject", "given_name"])
            ]
        );

        let mdl = &configurations["mdl"];
        assert_eq!(mdl.format, "mso_mdoc");
        assert_eq!(mdl.doctype.as_deref(), Some("org.iso.18013.5.1.mDL"));
        assert_eq!(
            mdl.cryptographic_binding_methods_supported,
            Some(vec!["cose_key".to_string()])
        );
        assert_eq!(
            paths(mdl),
            [
                json!(["org.iso.18013.5.1", "family_name"]),
                json!(["org.iso.18013.5.1", "given_name"])
            ]
        );
        assert_eq!(
            claim(mdl, json!(["org.iso.18013.5.1", "family_name"])).mandatory,
            Some(true)
        );

        // Unbound: no binding methods, no proof types.
        let membership = &configurations["vc+sd-jwt:https://credentials.example/membership"];
        assert!(!membership.requires_key_binding());
        assert_eq!(membership.proof_types_supported, None);
        assert_eq!(membership.credential_metadata, None);

        // The 1.0 model round-trips through its own serde.
        let json = serde_json::to_value(&metadata).unwrap();
        let back: IssuerMetadata = serde_json::from_value(json).unwrap();
        assert_eq!(back, metadata);
    }

    #[test]
    fn a_draft12_document_converts_to_the_1_0_model() {
        let doc = draft12_doc();
        assert!(is_draft11_metadata(&doc));
        let parsed = parse_issuer_metadata(&doc).unwrap();
        assert_eq!(parsed.draft(), SpecVersion::Draft12);
        let metadata = parsed.into_issuer_metadata().unwrap();
        assert_eq!(metadata.detected_version, SpecVersion::Draft12);
        assert_eq!(
            metadata.authorization_servers,
            Some(vec![
                "https://as1.example".to_string(),
                "https://as2.example".to_string()
            ])
        );
        assert_eq!(metadata.deferred_credential_endpoint, None);
        let configurations = &metadata.credential_configurations_supported;
        let ids: Vec<&str> = configurations.keys().map(String::as_str).collect();
        assert_eq!(ids, ["SD_JWT_PID", "UniversityDegree_JWT", "mDL"]);

        let degree = &configurations["UniversityDegree_JWT"];
        assert_eq!(degree.scope.as_deref(), Some("UniversityDegree"));
        assert_eq!(
            degree.credential_definition,
            Some(json!({"type": ["VerifiableCredential", "UniversityDegreeCredential"]}))
        );
        assert_eq!(
            paths(degree),
            [
                json!(["credentialSubject", "given_name"]),
                json!(["credentialSubject", "gpa"])
            ]
        );
        assert_eq!(
            degree.display_for(&["en".into()]).unwrap().name.as_deref(),
            Some("University Credential")
        );

        // Draft 13's proof type object is kept as it is.
        let pid = &configurations["SD_JWT_PID"];
        assert_eq!(pid.vct.as_deref(), Some("urn:eudi:pid:1"));
        assert_eq!(
            pid.proof_types_supported.as_ref().unwrap()["jwt"].proof_signing_alg_values_supported,
            ["ES256"]
        );
        assert_eq!(paths(pid), [json!(["birthdate"])]);
        assert_eq!(pid.claims()[0].mandatory, Some(false));

        // The later algorithm name wins; no suites, no proof algorithms.
        let mdl = &configurations["mDL"];
        assert_eq!(
            mdl.credential_signing_alg_values_supported,
            Some(vec![json!(-7)])
        );
        let proof_types = mdl.proof_types_supported.as_ref().unwrap();
        assert_eq!(proof_types.keys().collect::<Vec<_>>(), ["cwt", "jwt"]);
        assert!(proof_types["jwt"]
            .proof_signing_alg_values_supported
            .is_empty());
    }

    #[test]
    fn binding_methods_without_proof_types_mean_jwt_proofs() {
        let converted = issuer_metadata_from_draft11(&json!({
            "credential_issuer": "https://i.example",
            "credential_endpoint": "https://i.example/c",
            "credentials_supported": [
                {"format": "vc+sd-jwt", "id": "pid", "vct": "urn:eudi:pid:1",
                 "cryptographic_binding_methods_supported": ["jwk"],
                 "cryptographic_suites_supported": ["ES256"]},
                {"format": "vc+sd-jwt", "id": "plain", "vct": "urn:x",
                 "cryptographic_binding_methods_supported": ["jwk"]},
                {"format": "vc+sd-jwt", "id": "unbound", "vct": "urn:y"}
            ]
        }))
        .unwrap();
        let configurations: &BTreeMap<String, CredentialConfiguration> =
            &converted.credential_configurations_supported;
        let algs = |id: &str| {
            configurations[id].proof_types_supported.as_ref().unwrap()["jwt"]
                .proof_signing_alg_values_supported
                .clone()
        };
        assert_eq!(algs("pid"), ["ES256"]);
        assert_eq!(algs("plain"), ["ES256"]);
        assert_eq!(configurations["unbound"].proof_types_supported, None);
    }

    #[test]
    fn a_1_0_or_draft13_document_is_not_draft11() {
        assert!(!is_draft11_metadata(&json!({
            "credential_issuer": "https://i.example",
            "credential_endpoint": "https://i.example/c",
            "credential_configurations_supported": {}
        })));
        assert!(!is_draft11_metadata(&json!([])));
    }

    /// The error of `doc`, which must not parse or convert.
    fn error_of(doc: Value) -> Draft11Error {
        issuer_metadata_from_draft11(&doc).unwrap_err()
    }

    #[test]
    fn malformed_documents_are_typed_errors() {
        assert_eq!(
            error_of(json!(["not", "an", "object"])),
            Draft11Error::Malformed("not a JSON object".into())
        );
        let base = draft11_doc();
        let with = |pointer: &str, value: Value| {
            let mut doc = base.clone();
            *doc.pointer_mut(pointer).unwrap() = value;
            error_of(doc)
        };
        let malformed = |e: Draft11Error| match e {
            Draft11Error::Malformed(m) => m,
            other => panic!("not Malformed: {other:?}"),
        };

        let m = malformed(with("/credentials_supported", json!("pid")));
        assert!(m.contains("credentials_supported"), "{m}");
        assert!(m.contains("array (draft 11) or an object"), "{m}");

        let mut doc = base.clone();
        doc["credentials_supported"][2]
            .as_object_mut()
            .unwrap()
            .remove("format");
        let m = malformed(error_of(doc));
        assert!(m.contains("credentials_supported"), "{m}");
        assert!(m.contains("[2]"), "{m}");
        assert!(m.contains("format"), "{m}");

        let m = malformed(with(
            "/credentials_supported/0/proof_types_supported",
            json!("jwt"),
        ));
        assert!(m.contains("[0].proof_types_supported"), "{m}");
        let m = malformed(with(
            "/credentials_supported/0/proof_types_supported",
            json!([1, 2]),
        ));
        assert!(m.contains("array of proof type names"), "{m}");
        let m = malformed(with(
            "/credentials_supported/1/types",
            json!("VerifiableCredential"),
        ));
        assert!(m.contains("[1].types"), "{m}");
        let m = malformed(with("/credential_endpoint", json!(42)));
        assert!(m.contains("field credential_endpoint"), "{m}");
        let m = malformed(with(
            "/credentials_supported/0/claims/given_name/display",
            json!("Given name"),
        ));
        assert!(m.contains("claims.given_name.display"), "{m}");

        let mut doc = base.clone();
        doc.as_object_mut().unwrap().remove("credentials_supported");
        let m = malformed(error_of(doc));
        assert!(m.contains("credentials_supported"), "{m}");

        assert_eq!(
            with("/credentials_supported/2/id", json!("pid_sd_jwt")),
            Draft11Error::DuplicateId("pid_sd_jwt".into())
        );
        let mut doc = base.clone();
        doc["credentials_supported"][0]
            .as_object_mut()
            .unwrap()
            .remove("vct");
        assert_eq!(
            error_of(doc),
            Draft11Error::MissingType {
                id: "pid_sd_jwt".into(),
                format: "vc+sd-jwt".into(),
                missing: "vct",
            }
        );
        let mut doc = draft12_doc();
        doc["credentials_supported"]["mDL"]
            .as_object_mut()
            .unwrap()
            .remove("doctype");
        assert!(matches!(
            error_of(doc),
            Draft11Error::MissingType {
                missing: "doctype",
                ..
            }
        ));
        let mut doc = draft12_doc();
        doc["credentials_supported"]["UniversityDegree_JWT"]["credential_definition"]
            .as_object_mut()
            .unwrap()
            .remove("type");
        let e = error_of(doc);
        assert!(
            matches!(&e, Draft11Error::MissingType { missing: "types", id, .. } if id == "UniversityDegree_JWT"),
            "{e:?}"
        );
        assert!(e.to_string().contains("needs types"), "{e}");
    }

    #[test]
    fn ids_are_made_up_for_entries_without_one_and_never_collide() {
        let doc = json!({
            "credential_issuer": "https://i.example",
            "credential_endpoint": "https://i.example/c",
            "credentials_supported": [
                {"format": "vc+sd-jwt", "vct": "urn:a"},
                {"format": "vc+sd-jwt", "vct": "urn:a"},
                {"format": "vc+sd-jwt", "id": "vc+sd-jwt:urn:b", "vct": "urn:b"},
                {"format": "vc+sd-jwt", "vct": "urn:b"},
                {"format": "something_else"}
            ]
        });
        let metadata = issuer_metadata_from_draft11(&doc).unwrap();
        let ids: Vec<&str> = metadata
            .credential_configurations_supported
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            ids,
            [
                "credentials_supported[4]",
                "vc+sd-jwt:urn:a",
                "vc+sd-jwt:urn:a#1",
                "vc+sd-jwt:urn:b",
                "vc+sd-jwt:urn:b#3",
            ]
        );
    }

    #[test]
    fn credential_requests_have_the_draft_shapes() {
        let metadata = issuer_metadata_from_draft11(&draft11_doc()).unwrap();
        let configurations = &metadata.credential_configurations_supported;
        let proof = || Some(Draft11Proof::jwt("h.p.s"));
        let request = |id: &str, draft| {
            serde_json::to_value(Draft11CredentialRequest::for_configuration(
                &configurations[id],
                draft,
                proof(),
            ))
            .unwrap()
        };
        let types = json!(["VerifiableCredential", "UniversityDegreeCredential"]);
        assert_eq!(
            request(
                "jwt_vc_json:UniversityDegreeCredential",
                SpecVersion::Draft11
            ),
            json!({"format": "jwt_vc_json", "types": types,
                   "proof": {"proof_type": "jwt", "jwt": "h.p.s"}})
        );
        assert_eq!(
            request(
                "jwt_vc_json:UniversityDegreeCredential",
                SpecVersion::Draft12
            ),
            json!({"format": "jwt_vc_json", "credential_definition": {"type": types},
                   "proof": {"proof_type": "jwt", "jwt": "h.p.s"}})
        );
        assert_eq!(
            request("pid_sd_jwt", SpecVersion::Draft11),
            json!({"format": "vc+sd-jwt", "vct": "urn:eudi:pid:1",
                   "proof": {"proof_type": "jwt", "jwt": "h.p.s"}})
        );
        assert_eq!(
            request("mdl", SpecVersion::Draft12),
            json!({"format": "mso_mdoc", "doctype": "org.iso.18013.5.1.mDL",
                   "proof": {"proof_type": "jwt", "jwt": "h.p.s"}})
        );
        let unbound = Draft11CredentialRequest::for_configuration(
            &configurations["vc+sd-jwt:https://credentials.example/membership"],
            SpecVersion::Draft11,
            None,
        );
        assert_eq!(
            serde_json::to_value(unbound).unwrap(),
            json!({"format": "vc+sd-jwt", "vct": "https://credentials.example/membership"})
        );

        // Parsed as sent (draft 11 `types`; draft 12 `credential_definition`,
        // whose `types` spelling is read too).
        let parsed: Draft11CredentialRequest = serde_json::from_value(json!({
            "format": "jwt_vc_json", "types": ["VerifiableCredential"],
            "proof": {"proof_type": "jwt", "jwt": "x"}
        }))
        .unwrap();
        assert_eq!(parsed.types, Some(vec!["VerifiableCredential".to_string()]));
        assert_eq!(parsed.proof, Some(Draft11Proof::jwt("x")));
        let parsed: Draft11CredentialRequest = serde_json::from_value(json!({
            "format": "ldp_vc",
            "credential_definition": {"@context": ["https://www.w3.org/2018/credentials/v1"],
                                      "types": ["VerifiableCredential"]}
        }))
        .unwrap();
        let definition = parsed.credential_definition.unwrap();
        assert_eq!(
            definition.types,
            Some(vec!["VerifiableCredential".to_string()])
        );
        assert_eq!(definition.context.unwrap().len(), 1);

        // Draft 12: by the token response's credential identifier.
        assert_eq!(
            serde_json::to_value(Draft11CredentialRequest::for_identifier("pid-1", proof()))
                .unwrap(),
            json!({"credential_identifier": "pid-1",
                   "proof": {"proof_type": "jwt", "jwt": "h.p.s"}})
        );
    }
}
