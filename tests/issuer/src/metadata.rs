//! The documents the issuer publishes: credential issuer metadata (1.0
//! shape, or draft 13's or draft 11's), authorization server metadata and
//! SD-JWT VC issuer metadata.

use crate::credential::{Configuration, Format, CONFIGURATIONS};
use crate::encryption::{self, Encryption};
use crate::state::{Fault, Shared};
use serde_json::{json, Map, Value};

fn display(entries: &[(&str, &str, &str)]) -> Value {
    Value::Array(
        entries
            .iter()
            .map(|(locale, name, description)| {
                json!({ "name": name, "locale": locale, "description": description })
            })
            .collect(),
    )
}

fn labels(entries: &[(&str, &str)]) -> Value {
    Value::Array(
        entries
            .iter()
            .map(|(locale, name)| json!({ "name": name, "locale": locale }))
            .collect(),
    )
}

/// Draft 13's nested claims map of claim paths: `{"a": {"b": {"display":
/// [...]}}}`.
fn nested_claims<'a>(claims: impl Iterator<Item = (&'a [&'a str], Value)>) -> Map<String, Value> {
    let mut nested = Map::new();
    for (path, names) in claims {
        let mut at = &mut nested;
        for (i, segment) in path.iter().enumerate() {
            let entry = at.entry(segment.to_string()).or_insert_with(|| json!({}));
            if i + 1 == path.len() {
                entry["display"] = names.clone();
            }
            let Some(next) = entry.as_object_mut() else {
                break;
            };
            at = next;
        }
    }
    nested
}

/// A configuration's claims as drafts 11 to 13 nest them (`jwt_vc_json`:
/// the members of `credentialSubject`, without that prefix).
fn nested_claims_of(c: &Configuration) -> Map<String, Value> {
    let paths = c.claims.iter().map(|(path, names)| {
        let path = match c.format {
            Format::JwtVcJson { .. } => path
                .strip_prefix(&["credentialSubject"][..])
                .unwrap_or(path),
            Format::SdJwt { .. } | Format::MsoMdoc { .. } => path,
        };
        (path, labels(names))
    });
    nested_claims(paths)
}

/// Draft 11's `credentials_supported`: an array of objects with an `id`,
/// the type parameters at the top (`vct`, `types`, `doctype`), the claims
/// nested (`claims`; `credentialSubject` for `jwt_vc_json`), the signing
/// algorithms as `cryptographic_suites_supported` and the proof types as
/// an array of names.
fn draft11_credentials_supported(shared: &Shared) -> Vec<Value> {
    CONFIGURATIONS
        .iter()
        .map(|c| {
            let mut entry = json!({
                "format": c.draft13_format(),
                "id": c.id,
                "scope": c.scope,
            });
            let claims = Value::Object(nested_claims_of(c));
            let suites = match c.format {
                Format::SdJwt { vct } => {
                    entry["vct"] = json!(vct);
                    entry["claims"] = claims;
                    json!([shared.credential_alg()])
                }
                Format::JwtVcJson { types } => {
                    entry["types"] = json!(types);
                    entry["credentialSubject"] = claims;
                    json!(["ES256", "EdDSA"])
                }
                Format::MsoMdoc { doctype, .. } => {
                    entry["doctype"] = json!(doctype);
                    entry["claims"] = claims;
                    json!(["ES256"])
                }
            };
            if c.bound {
                entry["cryptographic_binding_methods_supported"] = binding_methods(c.format);
                entry["proof_types_supported"] = json!(["jwt"]);
            }
            entry["cryptographic_suites_supported"] = suites;
            entry["display"] = display(c.display);
            entry
        })
        .collect()
}

/// `cryptographic_binding_methods_supported` of a key-bound configuration.
fn binding_methods(format: Format) -> Value {
    match format {
        Format::SdJwt { .. } => json!(["jwk"]),
        Format::JwtVcJson { .. } => json!(["jwk", "did:jwk"]),
        Format::MsoMdoc { .. } => json!(["cose_key"]),
    }
}

/// Draft 11 issuer metadata: `credentials_supported`, and only the
/// parameters draft 11 has (`authorization_server`, singular, when the AS
/// is separate; no nonce, notification, batch or encryption parameters).
fn draft11_issuer_metadata(shared: &Shared) -> Value {
    let mut metadata = json!({
        "credential_issuer": shared.issuer_id(),
        "credential_endpoint": shared.endpoint("credential"),
        "deferred_credential_endpoint": shared.endpoint("deferred"),
        "display": issuer_display(),
        "credentials_supported": draft11_credentials_supported(shared),
    });
    if let Some(as_url) = &shared.as_base_url {
        metadata["authorization_server"] = json!(as_url);
    }
    metadata
}

fn issuer_display() -> Value {
    json!([
        { "name": "Reference Issuer", "locale": "en" },
        { "name": "Referenz-Aussteller", "locale": "de" },
    ])
}

/// `/.well-known/openid-credential-issuer`
pub(crate) fn issuer_metadata(shared: &Shared) -> Value {
    let settings = &shared.settings;
    if settings.draft11() {
        return with_faults(shared, draft11_issuer_metadata(shared));
    }
    let mut configurations = Map::new();
    for c in CONFIGURATIONS {
        let claims: Vec<Value> = c
            .claims
            .iter()
            .map(|(path, names)| json!({ "path": path, "display": labels(names) }))
            .collect();
        let mut config = match c.format {
            Format::SdJwt { vct } => json!({
                "format": "dc+sd-jwt",
                "scope": c.scope,
                "vct": vct,
                "credential_signing_alg_values_supported": [shared.credential_alg()],
            }),
            Format::JwtVcJson { types } => json!({
                "format": "jwt_vc_json",
                "scope": c.scope,
                "credential_definition": { "type": types },
                "credential_signing_alg_values_supported": ["ES256", "EdDSA"],
            }),
            // COSE algorithm identifiers, as 1.0 says for mdocs (ES256).
            Format::MsoMdoc { doctype, .. } => json!({
                "format": "mso_mdoc",
                "scope": c.scope,
                "doctype": doctype,
                "credential_signing_alg_values_supported": [-7],
            }),
        };
        if settings.draft13() {
            // Draft 13: display and a nested claims map on the configuration
            // (`jwt_vc_json`: in `credential_definition.credentialSubject`;
            // `mso_mdoc`: namespace, then element).
            config["display"] = display(c.display);
            let claims = Value::Object(nested_claims_of(c));
            match c.format {
                Format::SdJwt { .. } | Format::MsoMdoc { .. } => {
                    if let Format::SdJwt { .. } = c.format {
                        config["format"] = json!("vc+sd-jwt");
                    }
                    config["claims"] = claims;
                }
                Format::JwtVcJson { .. } => {
                    config["credential_definition"]["credentialSubject"] = claims;
                }
            }
        } else {
            config["credential_metadata"] = json!({
                "display": display(c.display),
                "claims": claims,
            });
        }
        if c.bound {
            config["cryptographic_binding_methods_supported"] = binding_methods(c.format);
            config["proof_types_supported"] = if shared.key_attestations_on() {
                let required = json!({
                    "key_storage": ["iso_18045_high"],
                    "user_authentication": ["iso_18045_high"]
                });
                let attestation = json!({
                    "proof_signing_alg_values_supported": ["ES256"],
                    "key_attestations_required": required
                });
                if shared.settings.attestation_proof_only {
                    json!({ "attestation": attestation })
                } else {
                    json!({
                        "jwt": {
                            "proof_signing_alg_values_supported": ["ES256"],
                            "key_attestations_required": required
                        },
                        "attestation": attestation
                    })
                }
            } else {
                json!({ "jwt": { "proof_signing_alg_values_supported": ["ES256"] } })
            };
        }
        configurations.insert(c.id.to_string(), config);
    }
    let mut metadata = json!({
        "credential_issuer": shared.issuer_id(),
        "credential_endpoint": shared.endpoint("credential"),
        "deferred_credential_endpoint": shared.endpoint("deferred"),
        "notification_endpoint": shared.endpoint("notification"),
        "display": issuer_display(),
        "credential_configurations_supported": configurations,
    });
    if let Some(as_url) = &shared.as_base_url {
        metadata["authorization_servers"] = json!([as_url]);
    }
    if settings.advertises_nonce_endpoint() {
        metadata["nonce_endpoint"] = json!(shared.endpoint("nonce"));
    }
    if let Some(size) = settings.batch_size {
        metadata["batch_credential_issuance"] = json!({ "batch_size": size });
    }
    if shared.encryption() != Encryption::Off {
        let required = shared.encryption() == Encryption::Required;
        metadata["credential_response_encryption"] = json!({
            "alg_values_supported": [encryption::ALG],
            "enc_values_supported": encryption::ENC_VALUES,
            "encryption_required": required,
        });
        let keys: Vec<Value> = shared
            .encryption_key
            .iter()
            .map(|k| k.public_jwk())
            .collect();
        metadata["credential_request_encryption"] = json!({
            "jwks": { "keys": keys },
            "enc_values_supported": encryption::ENC_VALUES,
            "encryption_required": required,
        });
    }
    with_faults(shared, metadata)
}

/// The metadata faults, in every version.
fn with_faults(shared: &Shared, mut metadata: Value) -> Value {
    if shared.has(Fault::MetadataIssuerMismatch) {
        metadata["credential_issuer"] = json!(format!("{}/someone-else", shared.base_url));
    }
    if shared.has(Fault::MetadataHttpEndpoint) {
        let http = shared
            .endpoint("credential")
            .replacen("https://", "http://", 1);
        metadata["credential_endpoint"] = json!(http);
    }
    if shared.has(Fault::MetadataMissingCredentialEndpoint) {
        if let Some(map) = metadata.as_object_mut() {
            map.remove("credential_endpoint");
        }
    }
    metadata
}

/// RFC 8414 authorization server metadata (the issuer is its own AS).
pub(crate) fn authorization_server_metadata(shared: &Shared) -> Value {
    let scopes: Vec<&str> = CONFIGURATIONS.iter().map(|c| c.scope).collect();
    let mut metadata = json!({
        "issuer": shared.as_id(),
        "authorization_endpoint": shared.as_endpoint("authorize"),
        "token_endpoint": shared.as_endpoint("token"),
        "pushed_authorization_request_endpoint": shared.as_endpoint("par"),
        "require_pushed_authorization_requests": shared.settings.require_par,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": [
            "authorization_code",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:pre-authorized_code",
        ],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "authorization_details_types_supported": ["openid_credential"],
        "scopes_supported": scopes,
        "pre-authorized_grant_anonymous_access_supported": true,
        "token_endpoint_auth_methods_supported": ["none"],
    });
    if shared.attestation_required() {
        if let Some(methods) = metadata["token_endpoint_auth_methods_supported"].as_array_mut() {
            methods.push(json!(crate::attestation::AUTH_METHOD));
        }
        // The token endpoint refuses anonymous pre-authorized requests.
        metadata["pre-authorized_grant_anonymous_access_supported"] = json!(false);
        if shared.attestation_challenges() {
            metadata["challenge_endpoint"] = json!(shared.as_endpoint("challenge"));
        }
    }
    if shared.settings.require_dpop {
        metadata["dpop_signing_alg_values_supported"] = json!(crate::dpop::DPOP_ALGS);
    }
    if !shared.settings.offer_par {
        if let Some(map) = metadata.as_object_mut() {
            map.remove("pushed_authorization_request_endpoint");
            map.remove("require_pushed_authorization_requests");
        }
    }
    if shared.has(Fault::AsIssuerMismatch) {
        metadata["issuer"] = json!(format!("{}/someone-else", shared.base_url));
    }
    if shared.has(Fault::AsMissingTokenEndpoint) {
        if let Some(map) = metadata.as_object_mut() {
            map.remove("token_endpoint");
        }
    }
    metadata
}

/// `/.well-known/jwt-vc-issuer`: the keys that sign credentials.
pub(crate) fn jwt_vc_issuer_metadata(shared: &Shared) -> Value {
    json!({
        "issuer": shared.issuer_id(),
        "jwks": { "keys": [shared.keys.public_jwk()] },
    })
}
