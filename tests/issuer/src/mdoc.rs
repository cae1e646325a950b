//! ISO/IEC 18013-5 mdocs: the `mso_mdoc` credentials of OpenID4VCI 1.0
//! (appendix A.2), each the base64url (no padding) of the CBOR of an
//! `IssuerSigned` (ISO/IEC 18013-5, 9.1.2):
//!
//! ```text
//! IssuerSigned = {"nameSpaces": {ns: [+ IssuerSignedItemBytes]},
//!                 "issuerAuth": COSE_Sign1}
//! IssuerSignedItemBytes = #6.24(bstr .cbor {"digestID": uint, "random": bstr,
//!                                           "elementIdentifier": tstr,
//!                                           "elementValue": any})
//! COSE_Sign1 = [bstr .cbor {1: -7}, {33: bstr (DS certificate, DER)},
//!               bstr .cbor #6.24(bstr .cbor MobileSecurityObject),
//!               bstr (ES256, r || s)]
//! MobileSecurityObject = {"version": "1.0", "digestAlgorithm": "SHA-256",
//!   "valueDigests": {ns: {digestID: bstr}}, "deviceKeyInfo": {"deviceKey":
//!   COSE_Key}, "docType": tstr, "validityInfo": {"signed": tdate,
//!   "validFrom": tdate, "validUntil": tdate}}
//! ```
//!
//! Each digest is SHA-256 over the whole `IssuerSignedItemBytes` encoding,
//! tag 24 header included. The document signer certificate is issued
//! directly by the issuer's test root CA (see [`crate::trust`]).

use crate::credential::{now_secs, public_key, rfc3339, Configuration, Format};
use crate::state::Fault;
use crate::trust::{document_signer_under_fresh_root, TestPki};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use base64::Engine as _;
use ciborium::Value as Cbor;
use coset::{iana, AsCborValue as _, CoseKeyBuilder, CoseSign1Builder, HeaderBuilder};
use p256::ecdsa::SigningKey;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use rand::seq::SliceRandom as _;
use rand::RngCore as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

/// The EU PID's doctype.
pub(crate) const PID_DOCTYPE: &str = "eu.europa.ec.eudi.pid.1";
/// The EU PID's namespace (the same name as its doctype).
pub(crate) const PID_NAMESPACE: &str = "eu.europa.ec.eudi.pid.1";
/// The mDL's doctype (ISO/IEC 18013-5, 7.1).
pub(crate) const MDL_DOCTYPE: &str = "org.iso.18013.5.1.mDL";
/// The mDL's namespace.
pub(crate) const MDL_NAMESPACE: &str = "org.iso.18013.5.1";
/// The MSO `docType` of [`Fault::MdocWrongDoctype`].
pub(crate) const OTHER_DOCTYPE: &str = "org.example.other";

/// COSE header `x5chain` (RFC 9360).
pub(crate) const X5CHAIN: i64 = 33;
/// CBOR tag: RFC 3339 date/time text (`tdate`).
pub(crate) const TAG_TDATE: u64 = 0;
/// CBOR tag: encoded CBOR data item (`#6.24(bstr)`).
pub(crate) const TAG_ENCODED_CBOR: u64 = 24;
/// CBOR tag: RFC 8943 full-date text (`YYYY-MM-DD`).
pub(crate) const TAG_FULL_DATE: u64 = 1004;

/// Random bytes per `IssuerSignedItem` (ISO/IEC 18013-5 asks for 16 at
/// least).
const RANDOM_BYTES: usize = 32;
const DAY_SECS: i64 = 24 * 3600;
/// How long an MSO is valid: within the 90 days of the DS certificate.
const LIFETIME_DAYS: i64 = 60;

/// The root CA name of the document signer of
/// [`Fault::MdocSignerOutsideAnchors`].
const UNTRUSTED_ROOT_NAME: &str = "oid4vci-issuer untrusted root CA";

/// An ISO/IEC 18013-5 document signer: its key and its certificate (DER).
pub(crate) struct DocumentSigner {
    pub key: SigningKey,
    pub certificate: Vec<u8>,
}

/// The MSO's `validityInfo`, as Unix times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MsoValidity {
    signed: i64,
    valid_from: i64,
    valid_until: i64,
}

impl MsoValidity {
    /// Signed and valid from now, for [`LIFETIME_DAYS`].
    fn fresh() -> Self {
        let now = now_secs();
        MsoValidity {
            signed: now,
            valid_from: now,
            valid_until: now + LIFETIME_DAYS * DAY_SECS,
        }
    }

    /// [`Fault::MdocExpired`]: signed and valid from 10 days ago until a
    /// day ago.
    fn expired() -> Self {
        let now = now_secs();
        MsoValidity {
            signed: now - 10 * DAY_SECS,
            valid_from: now - 10 * DAY_SECS,
            valid_until: now - DAY_SECS,
        }
    }
}

fn text(s: &str) -> Cbor {
    Cbor::Text(s.to_string())
}

/// `tdate`: tag 0 on RFC 3339 UTC text without fractional seconds.
fn tdate(secs: i64) -> Cbor {
    Cbor::Tag(TAG_TDATE, Box::new(Cbor::Text(rfc3339(secs))))
}

/// `full-date`: tag 1004 on `YYYY-MM-DD`.
fn full_date(date: &str) -> Cbor {
    Cbor::Tag(TAG_FULL_DATE, Box::new(text(date)))
}

/// The UTC day of a Unix time as a `full-date`.
fn day_of(secs: i64) -> Cbor {
    full_date(&rfc3339(secs)[..10])
}

/// A small JPEG-looking portrait (SOI, APP0 "JFIF", EOI).
const PORTRAIT: &[u8] = &[
    0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00, 0x00, 0x01,
    0x00, 0x01, 0x00, 0x00, 0xff, 0xd9,
];

/// The data elements of `doctype` in their order (one namespace per
/// doctype here); the dates of issue and expiry follow `validity`.
fn default_elements(doctype: &str, validity: &MsoValidity) -> Vec<(&'static str, Cbor)> {
    let issued = day_of(validity.valid_from);
    let expires = day_of(validity.valid_until);
    match doctype {
        PID_DOCTYPE => vec![
            ("family_name", text("Mustermann")),
            ("given_name", text("Erika")),
            ("birth_date", full_date("1964-08-12")),
            ("age_over_18", Cbor::Bool(true)),
            ("issuing_country", text("DE")),
            ("issuing_authority", text("DE")),
            ("issuance_date", issued),
            ("expiry_date", expires),
            ("nationality", Cbor::Array(vec![text("DE")])),
        ],
        MDL_DOCTYPE => vec![
            ("family_name", text("Mustermann")),
            ("given_name", text("Erika")),
            ("birth_date", full_date("1964-08-12")),
            ("issue_date", issued.clone()),
            ("expiry_date", expires.clone()),
            ("issuing_country", text("DE")),
            ("issuing_authority", text("Kraftfahrt-Bundesamt")),
            ("document_number", text("T22000129")),
            ("portrait", Cbor::Bytes(PORTRAIT.to_vec())),
            (
                "driving_privileges",
                Cbor::Array(vec![Cbor::Map(vec![
                    (text("vehicle_category_code"), text("B")),
                    (text("issue_date"), issued),
                    (text("expiry_date"), expires),
                ])]),
            ),
            ("un_distinguishing_sign", text("D")),
        ],
        _ => Vec::new(),
    }
}

/// A JSON claim value as CBOR, shaped like the element it replaces
/// (`like`): text for a date stays a tagged date, text for a byte string is
/// decoded from base64url (or base64) when it can be. Strings, booleans,
/// integers, floats, null, arrays and objects (text keys) otherwise map
/// directly.
fn json_to_cbor(value: &Value, like: Option<&Cbor>) -> Cbor {
    match value {
        Value::Null => Cbor::Null,
        Value::Bool(b) => Cbor::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Cbor::Integer(u.into()),
            (None, Some(i), _) => Cbor::Integer(i.into()),
            (None, None, Some(f)) => Cbor::Float(f),
            (None, None, None) => Cbor::Null,
        },
        Value::String(s) => match like {
            Some(Cbor::Tag(tag @ (TAG_TDATE | TAG_FULL_DATE), _)) => {
                Cbor::Tag(*tag, Box::new(text(s)))
            }
            Some(Cbor::Bytes(_)) => match B64.decode(s).or_else(|_| STANDARD.decode(s)) {
                Ok(bytes) => Cbor::Bytes(bytes),
                Err(_) => text(s),
            },
            _ => text(s),
        },
        Value::Array(items) => {
            let like = match like {
                Some(Cbor::Array(l)) => l.first(),
                _ => None,
            };
            Cbor::Array(items.iter().map(|v| json_to_cbor(v, like)).collect())
        }
        Value::Object(members) => {
            let like = match like {
                Some(Cbor::Map(l)) => Some(l),
                _ => None,
            };
            Cbor::Map(
                members
                    .iter()
                    .map(|(k, v)| {
                        let member = like.and_then(|l| {
                            l.iter()
                                .find(|(lk, _)| lk.as_text() == Some(k))
                                .map(|(_, lv)| lv)
                        });
                        (text(k), json_to_cbor(v, member))
                    })
                    .collect(),
            )
        }
    }
}

/// A JSON view of a CBOR value: tags dropped (dates become their text),
/// byte strings as base64url without padding.
fn cbor_to_json(value: &Cbor) -> Value {
    match value {
        Cbor::Integer(i) => {
            let i = i128::from(*i);
            match (i64::try_from(i), u64::try_from(i)) {
                (Ok(i), _) => Value::from(i),
                (_, Ok(u)) => Value::from(u),
                _ => Value::Null,
            }
        }
        Cbor::Bytes(b) => Value::String(B64.encode(b)),
        Cbor::Float(f) => Value::from(*f),
        Cbor::Text(s) => Value::String(s.clone()),
        Cbor::Bool(b) => Value::Bool(*b),
        Cbor::Tag(_, inner) => cbor_to_json(inner),
        Cbor::Array(items) => Value::Array(items.iter().map(cbor_to_json).collect()),
        Cbor::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        Cbor::Text(s) => s.clone(),
                        other => cbor_to_json(other).to_string(),
                    };
                    (key, cbor_to_json(v))
                })
                .collect(),
        ),
        _ => Value::Null,
    }
}

/// The JSON view of `doctype`'s default data elements, as issued now.
fn json_values(doctype: &str) -> Map<String, Value> {
    default_elements(doctype, &MsoValidity::fresh())
        .into_iter()
        .map(|(name, value)| (name.to_string(), cbor_to_json(&value)))
        .collect()
}

/// `pid_mdoc`'s default values (JSON view).
pub(crate) fn pid_values() -> Map<String, Value> {
    json_values(PID_DOCTYPE)
}

/// `mdl_mdoc`'s default values (JSON view).
pub(crate) fn mdl_values() -> Map<String, Value> {
    json_values(MDL_DOCTYPE)
}

/// The CBOR encoding of `value`.
pub(crate) fn encode(value: &Cbor) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).map_err(|e| format!("CBOR encoding: {e}"))?;
    Ok(out)
}

/// `#6.24(bstr .cbor value)`.
fn embedded(value: &Cbor) -> Result<Cbor, String> {
    Ok(Cbor::Tag(
        TAG_ENCODED_CBOR,
        Box::new(Cbor::Bytes(encode(value)?)),
    ))
}

/// A COSE_Key of a P-256 public key: `{1: 2, -1: 1, -2: x, -3: y}`.
fn cose_key(public: &p256::PublicKey) -> Result<Cbor, String> {
    let point = public.to_encoded_point(false);
    let (Some(x), Some(y)) = (point.x(), point.y()) else {
        return Err("the device key is the identity point".into());
    };
    CoseKeyBuilder::new_ec2_pub_key(iana::EllipticCurve::P_256, x.to_vec(), y.to_vec())
        .build()
        .to_cbor_value()
        .map_err(|e| format!("COSE_Key: {e}"))
}

/// Issues an `mso_mdoc` credential of `configuration` for the holder key
/// `holder_jwk` (a public P-256 JWK, the proof's `jwk`), its default data
/// elements replaced by `overrides` (elements it does not have are
/// ignored), signed by `signer` (its certificate in `x5chain`). The `Mdoc*`
/// faults among `faults` apply. The answer is the base64url (no padding)
/// `IssuerSigned`; errors are descriptions.
pub(crate) fn issue_mdoc(
    signer: &DocumentSigner,
    configuration: &Configuration,
    holder_jwk: &Value,
    overrides: Option<&Map<String, Value>>,
    faults: &BTreeSet<Fault>,
) -> Result<String, String> {
    let Format::MsoMdoc { doctype, namespace } = configuration.format else {
        return Err(format!(
            "{} is not an mso_mdoc configuration",
            configuration.id
        ));
    };
    let validity = if faults.contains(&Fault::MdocExpired) {
        MsoValidity::expired()
    } else {
        MsoValidity::fresh()
    };
    let mut elements = default_elements(doctype, &validity);
    if let Some(overrides) = overrides {
        for (name, value) in elements.iter_mut() {
            if let Some(new) = overrides.get(*name) {
                *value = json_to_cbor(new, Some(value));
            }
        }
    }

    // Digest IDs: a random permutation, so they tell nothing of the order.
    let mut ids: Vec<u64> = (0..elements.len() as u64).collect();
    ids.shuffle(&mut rand::thread_rng());
    let mut items = Vec::with_capacity(elements.len());
    let mut digests = Vec::with_capacity(elements.len());
    for ((name, value), id) in elements.into_iter().zip(ids) {
        let mut random = vec![0u8; RANDOM_BYTES];
        rand::thread_rng().fill_bytes(&mut random);
        let item = Cbor::Map(vec![
            (text("digestID"), Cbor::Integer(id.into())),
            (text("random"), Cbor::Bytes(random)),
            (text("elementIdentifier"), text(name)),
            (text("elementValue"), value),
        ]);
        let item_bytes = embedded(&item)?;
        // Over the whole IssuerSignedItemBytes: the tag 24 header too.
        let digest = Sha256::digest(encode(&item_bytes)?).to_vec();
        digests.push((id, digest));
        items.push(item_bytes);
    }
    if faults.contains(&Fault::MdocWrongDigest) {
        // The first element's digest (family_name), one bit flipped.
        if let Some((_, digest)) = digests.first_mut() {
            digest[0] ^= 0x01;
        }
    }
    digests.sort_by_key(|(id, _)| *id);

    let device_key = if faults.contains(&Fault::MdocDeviceKeyNotOurs) {
        p256::PublicKey::from(SigningKey::random(&mut rand::rngs::OsRng).verifying_key())
    } else {
        public_key(holder_jwk).ok_or("the holder key is not a P-256 public JWK")?
    };
    let doc_type = if faults.contains(&Fault::MdocWrongDoctype) {
        OTHER_DOCTYPE
    } else {
        doctype
    };
    let mso = Cbor::Map(vec![
        (text("version"), text("1.0")),
        (text("digestAlgorithm"), text("SHA-256")),
        (
            text("valueDigests"),
            Cbor::Map(vec![(
                text(namespace),
                Cbor::Map(
                    digests
                        .into_iter()
                        .map(|(id, digest)| (Cbor::Integer(id.into()), Cbor::Bytes(digest)))
                        .collect(),
                ),
            )]),
        ),
        (
            text("deviceKeyInfo"),
            Cbor::Map(vec![(text("deviceKey"), cose_key(&device_key)?)]),
        ),
        (text("docType"), text(doc_type)),
        (
            text("validityInfo"),
            Cbor::Map(vec![
                (text("signed"), tdate(validity.signed)),
                (text("validFrom"), tdate(validity.valid_from)),
                (text("validUntil"), tdate(validity.valid_until)),
            ]),
        ),
    ]);
    // MobileSecurityObjectBytes.
    let payload = encode(&embedded(&mso)?)?;
    let issuer_auth = CoseSign1Builder::new()
        .protected(
            HeaderBuilder::new()
                .algorithm(iana::Algorithm::ES256)
                .build(),
        )
        .unprotected(
            HeaderBuilder::new()
                .value(X5CHAIN, Cbor::Bytes(signer.certificate.clone()))
                .build(),
        )
        .payload(payload)
        .create_signature(b"", |to_be_signed| {
            let signature = crate::es256::sign(&signer.key, to_be_signed);
            signature.to_bytes().to_vec()
        })
        .build()
        .to_cbor_value()
        .map_err(|e| format!("COSE_Sign1: {e}"))?;
    let issuer_signed = Cbor::Map(vec![
        (
            text("nameSpaces"),
            Cbor::Map(vec![(text(namespace), Cbor::Array(items))]),
        ),
        (text("issuerAuth"), issuer_auth),
    ]);
    Ok(B64.encode(encode(&issuer_signed)?))
}

/// Issues as the issuer does ([`issue_mdoc`]): signed by the document
/// signer of `pki` (certified by its root CA), or, with
/// [`Fault::MdocSignerOutsideAnchors`], by a fresh document signer under a
/// fresh root CA that is not served as a trust anchor.
pub(crate) fn issue_with_pki(
    pki: &TestPki,
    configuration: &Configuration,
    holder_jwk: &Value,
    overrides: Option<&Map<String, Value>>,
    faults: &BTreeSet<Fault>,
) -> Result<String, String> {
    let untrusted;
    let signer = if faults.contains(&Fault::MdocSignerOutsideAnchors) {
        untrusted = document_signer_under_fresh_root(UNTRUSTED_ROOT_NAME)
            .map_err(|e| e.to_string())?
            .0;
        &untrusted
    } else {
        pki.document_signer()?
    };
    issue_mdoc(signer, configuration, holder_jwk, overrides, faults)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::credential::configuration;
    use crate::credential::tests::holder;
    use crate::state::{Settings, Shared};
    use crate::trust::tests::pem_der;
    use crate::trust::ROOT_NAME;
    use coset::CoseSign1;
    use p256::ecdsa::signature::Verifier as _;
    use p256::ecdsa::{Signature, VerifyingKey};
    use p256::pkcs8::DecodePublicKey as _;
    use serde_json::json;
    use tokio_rustls::rustls::pki_types::{CertificateDer, UnixTime};
    use tokio_rustls::rustls::server::ParsedCertificate;

    /// `id-mdl-kp-mdlDS` as DER OID content.
    const MDL_DS_OID: &[u8] = &[0x28, 0x81, 0x8c, 0x5d, 0x05, 0x01, 0x02];

    fn signer() -> (DocumentSigner, String) {
        document_signer_under_fresh_root(ROOT_NAME).unwrap()
    }

    fn issue(id: &str, jwk: &Value, faults: &[Fault]) -> (String, DocumentSigner) {
        let (signer, _) = signer();
        let faults = faults.iter().copied().collect();
        let mdoc = issue_mdoc(&signer, configuration(id).unwrap(), jwk, None, &faults).unwrap();
        (mdoc, signer)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Cbor {
        ciborium::from_reader(bytes).unwrap()
    }

    /// A map's entry by text key.
    pub(crate) fn get<'a>(map: &'a Cbor, key: &str) -> &'a Cbor {
        map.as_map()
            .unwrap()
            .iter()
            .find(|(k, _)| k.as_text() == Some(key))
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no {key} in {map:?}"))
    }

    fn keys(map: &Cbor) -> Vec<&str> {
        map.as_map()
            .unwrap()
            .iter()
            .map(|(k, _)| k.as_text().unwrap())
            .collect()
    }

    fn int(value: &Cbor) -> i128 {
        i128::from(value.as_integer().unwrap())
    }

    /// The contents of `#6.24(bstr)`.
    fn untag24(value: &Cbor) -> &[u8] {
        let Cbor::Tag(TAG_ENCODED_CBOR, inner) = value else {
            panic!("not tag 24: {value:?}");
        };
        inner.as_bytes().unwrap()
    }

    /// An mdoc taken apart.
    pub(crate) struct Parts {
        pub raw: Vec<u8>,
        pub issuer_signed: Cbor,
        pub sign1: CoseSign1,
        pub mso: Cbor,
    }

    pub(crate) fn parts(credential: &str) -> Parts {
        assert!(!credential.contains('='), "no padding");
        assert!(!credential.contains('+') && !credential.contains('/'));
        let raw = B64.decode(credential).unwrap();
        let issuer_signed = decode(&raw);
        let auth = get(&issuer_signed, "issuerAuth").clone();
        // An untagged COSE_Sign1.
        assert!(
            matches!(auth, Cbor::Array(ref a) if a.len() == 4),
            "{auth:?}"
        );
        let sign1 = CoseSign1::from_cbor_value(auth).unwrap();
        let payload = decode(sign1.payload.as_ref().unwrap());
        let mso = decode(untag24(&payload));
        Parts {
            raw,
            issuer_signed,
            sign1,
            mso,
        }
    }

    /// The IssuerSignedItemBytes of the one namespace, and its name.
    pub(crate) fn items(issuer_signed: &Cbor) -> (&str, &[Cbor]) {
        let namespaces = get(issuer_signed, "nameSpaces").as_map().unwrap();
        assert_eq!(namespaces.len(), 1);
        let (ns, items) = &namespaces[0];
        (ns.as_text().unwrap(), items.as_array().unwrap())
    }

    /// elementIdentifier -> (digestID, elementValue).
    fn elements(issuer_signed: &Cbor) -> Vec<(String, i128, Cbor)> {
        items(issuer_signed)
            .1
            .iter()
            .map(|bytes| {
                let item = decode(untag24(bytes));
                (
                    get(&item, "elementIdentifier")
                        .as_text()
                        .unwrap()
                        .to_string(),
                    int(get(&item, "digestID")),
                    get(&item, "elementValue").clone(),
                )
            })
            .collect()
    }

    fn element(issuer_signed: &Cbor, name: &str) -> Cbor {
        elements(issuer_signed)
            .into_iter()
            .find(|(n, _, _)| n == name)
            .unwrap_or_else(|| panic!("no element {name}"))
            .2
    }

    /// digestID -> digest of the MSO's one namespace.
    fn value_digests(mso: &Cbor, ns: &str) -> Vec<(i128, Vec<u8>)> {
        get(get(mso, "valueDigests"), ns)
            .as_map()
            .unwrap()
            .iter()
            .map(|(id, d)| (int(id), d.as_bytes().unwrap().clone()))
            .collect()
    }

    /// The IDs of the items whose digest does not match.
    pub(crate) fn mismatched(parts: &Parts) -> Vec<i128> {
        let (ns, items) = items(&parts.issuer_signed);
        let digests = value_digests(&parts.mso, ns);
        let mut wrong = Vec::new();
        for bytes in items {
            // The exact bytes as sent: tag 24 header (d8 18), bstr header
            // (58 xx / 59 xx xx), then the item.
            let full = encode(bytes).unwrap();
            assert_eq!(&full[..2], &[0xd8, 0x18]);
            assert!(matches!(full[2], 0x58 | 0x59), "{:x}", full[2]);
            assert!(
                parts.raw.windows(full.len()).any(|w| w == full),
                "re-encoded item bytes are not the sent bytes"
            );
            let item = decode(untag24(bytes));
            let id = int(get(&item, "digestID"));
            let (_, digest) = digests.iter().find(|(i, _)| *i == id).unwrap();
            if Sha256::digest(&full)[..] != digest[..] {
                wrong.push(id);
            }
            // Not the digest of the bare item (without the tag header).
            assert_ne!(&Sha256::digest(untag24(bytes))[..], &digest[..]);
        }
        wrong
    }

    /// The DS certificate's public key.
    pub(crate) fn certificate_key(der: &[u8]) -> VerifyingKey {
        let der = CertificateDer::from(der.to_vec());
        let parsed = ParsedCertificate::try_from(&der).unwrap();
        VerifyingKey::from_public_key_der(parsed.subject_public_key_info().as_ref()).unwrap()
    }

    pub(crate) fn x5chain(sign1: &CoseSign1) -> Vec<u8> {
        let rest = &sign1.unprotected.rest;
        assert_eq!(rest.len(), 1, "{rest:?}");
        assert_eq!(rest[0].0, coset::Label::Int(X5CHAIN));
        rest[0].1.as_bytes().unwrap().clone()
    }

    pub(crate) fn signature_verifies(sign1: &CoseSign1, key: &VerifyingKey) -> bool {
        sign1
            .verify_signature(b"", |signature, data| {
                let signature = Signature::from_slice(signature).map_err(|_| ())?;
                key.verify(data, &signature).map_err(|_| ())
            })
            .is_ok()
    }

    /// Verifies the DS certificate to `root_pem` for `id-mdl-kp-mdlDS`.
    pub(crate) fn verify_signer(certificate: &[u8], root_pem: &str) -> Result<(), webpki::Error> {
        let root = CertificateDer::from(pem_der(root_pem));
        let anchors = [webpki::anchor_from_trusted_cert(&root).unwrap()];
        let leaf = CertificateDer::from(certificate.to_vec());
        let leaf = webpki::EndEntityCert::try_from(&leaf).unwrap();
        let provider = tokio_rustls::rustls::crypto::aws_lc_rs::default_provider();
        leaf.verify_for_usage(
            provider.signature_verification_algorithms.all,
            &anchors,
            &[],
            UnixTime::now(),
            webpki::KeyUsage::required(MDL_DS_OID),
            None,
            None,
        )
        .map(|_| ())
    }

    fn tdate_secs(value: &Cbor) -> String {
        let Cbor::Tag(TAG_TDATE, inner) = value else {
            panic!("not a tdate: {value:?}");
        };
        let s = inner.as_text().unwrap().to_string();
        assert_eq!(s.len(), 20, "{s}");
        assert!(s.ends_with('Z') && !s.contains('.'), "{s}");
        s
    }

    #[test]
    fn a_pid_mdoc_is_an_issuer_signed_per_18013_5() {
        let (_, jwk) = holder();
        let (credential, signer) = issue("pid_mdoc", &jwk, &[]);
        let parts = parts(&credential);
        assert_eq!(keys(&parts.issuer_signed), ["nameSpaces", "issuerAuth"]);

        // The items: exact member order, 16+ random bytes, unique IDs.
        let (ns, items) = items(&parts.issuer_signed);
        assert_eq!(ns, PID_NAMESPACE);
        assert_eq!(items.len(), 9);
        let mut ids = BTreeSet::new();
        for bytes in items {
            let item = decode(untag24(bytes));
            assert_eq!(
                keys(&item),
                ["digestID", "random", "elementIdentifier", "elementValue"]
            );
            assert!(get(&item, "random").as_bytes().unwrap().len() >= 16);
            assert!(ids.insert(int(get(&item, "digestID"))));
        }
        assert_eq!(ids, (0..9).collect());
        let names: Vec<String> = elements(&parts.issuer_signed)
            .into_iter()
            .map(|(n, _, _)| n)
            .collect();
        assert_eq!(
            names,
            [
                "family_name",
                "given_name",
                "birth_date",
                "age_over_18",
                "issuing_country",
                "issuing_authority",
                "issuance_date",
                "expiry_date",
                "nationality"
            ]
        );
        let is = &parts.issuer_signed;
        assert_eq!(element(is, "family_name"), text("Mustermann"));
        assert_eq!(element(is, "given_name"), text("Erika"));
        assert_eq!(element(is, "birth_date"), full_date("1964-08-12"));
        assert_eq!(element(is, "age_over_18"), Cbor::Bool(true));
        assert_eq!(element(is, "issuing_country"), text("DE"));
        assert_eq!(element(is, "issuing_authority"), text("DE"));
        assert_eq!(element(is, "nationality"), Cbor::Array(vec![text("DE")]));
        assert_eq!(element(is, "issuance_date"), day_of(now_secs()));

        // The MSO.
        let mso = &parts.mso;
        assert_eq!(
            keys(mso),
            [
                "version",
                "digestAlgorithm",
                "valueDigests",
                "deviceKeyInfo",
                "docType",
                "validityInfo"
            ]
        );
        assert_eq!(get(mso, "version"), &text("1.0"));
        assert_eq!(get(mso, "digestAlgorithm"), &text("SHA-256"));
        assert_eq!(get(mso, "docType"), &text(PID_DOCTYPE));
        assert_eq!(keys(get(mso, "valueDigests")), [PID_NAMESPACE]);
        let digests = value_digests(mso, PID_NAMESPACE);
        assert_eq!(digests.len(), 9);
        assert!(digests.iter().all(|(_, d)| d.len() == 32));
        assert_eq!(mismatched(&parts), Vec::<i128>::new());

        let validity = get(mso, "validityInfo");
        assert_eq!(keys(validity), ["signed", "validFrom", "validUntil"]);
        let signed = tdate_secs(get(validity, "signed"));
        let from = tdate_secs(get(validity, "validFrom"));
        let until = tdate_secs(get(validity, "validUntil"));
        assert!(signed <= from && from < until, "{signed} {from} {until}");
        assert_eq!(
            element(is, "expiry_date"),
            full_date(&until[..10]),
            "expiry_date is the MSO's validUntil"
        );

        // The device key: the holder's, as a COSE_Key in this order.
        let device_key = get(get(mso, "deviceKeyInfo"), "deviceKey");
        let x = B64.decode(jwk["x"].as_str().unwrap()).unwrap();
        let y = B64.decode(jwk["y"].as_str().unwrap()).unwrap();
        assert_eq!(
            device_key,
            &Cbor::Map(vec![
                (Cbor::Integer(1.into()), Cbor::Integer(2.into())),
                (Cbor::Integer((-1).into()), Cbor::Integer(1.into())),
                (Cbor::Integer((-2).into()), Cbor::Bytes(x)),
                (Cbor::Integer((-3).into()), Cbor::Bytes(y)),
            ])
        );

        // issuerAuth: protected {1: -7} exactly, x5chain the DS certificate,
        // the payload MobileSecurityObjectBytes, a 64-byte r || s.
        let auth = get(&parts.issuer_signed, "issuerAuth").as_array().unwrap();
        assert_eq!(auth[0].as_bytes().unwrap(), &[0xa1, 0x01, 0x26]);
        assert_eq!(auth[1].as_map().unwrap().len(), 1);
        let payload = auth[2].as_bytes().unwrap();
        assert_eq!(&payload[..2], &[0xd8, 0x18]);
        assert_eq!(auth[3].as_bytes().unwrap().len(), 64);
        assert_eq!(x5chain(&parts.sign1), signer.certificate);

        // The signature covers ["Signature1", protected, h'', payload].
        let sig_structure = Cbor::Array(vec![
            text("Signature1"),
            Cbor::Bytes(vec![0xa1, 0x01, 0x26]),
            Cbor::Bytes(Vec::new()),
            Cbor::Bytes(payload.clone()),
        ]);
        assert_eq!(parts.sign1.tbs_data(b""), encode(&sig_structure).unwrap());
        let key = certificate_key(&signer.certificate);
        assert_eq!(&key, signer.key.verifying_key());
        assert!(signature_verifies(&parts.sign1, &key));
        let other = SigningKey::random(&mut rand::rngs::OsRng);
        assert!(!signature_verifies(&parts.sign1, other.verifying_key()));
    }

    #[test]
    fn an_mdl_has_its_namespace_and_elements() {
        let (_, jwk) = holder();
        let (credential, _) = issue("mdl_mdoc", &jwk, &[]);
        let parts = parts(&credential);
        assert_eq!(items(&parts.issuer_signed).0, MDL_NAMESPACE);
        assert_eq!(get(&parts.mso, "docType"), &text(MDL_DOCTYPE));
        assert_eq!(mismatched(&parts), Vec::<i128>::new());
        let is = &parts.issuer_signed;
        assert_eq!(elements(is).len(), 11);
        assert_eq!(element(is, "document_number"), text("T22000129"));
        assert_eq!(element(is, "un_distinguishing_sign"), text("D"));
        assert_eq!(element(is, "birth_date"), full_date("1964-08-12"));
        let issued = element(is, "issue_date");
        let expires = element(is, "expiry_date");
        assert!(matches!(issued, Cbor::Tag(TAG_FULL_DATE, _)));
        let portrait = element(is, "portrait");
        assert_eq!(&portrait.as_bytes().unwrap()[..2], &[0xff, 0xd8]);
        assert_eq!(
            element(is, "driving_privileges"),
            Cbor::Array(vec![Cbor::Map(vec![
                (text("vehicle_category_code"), text("B")),
                (text("issue_date"), issued),
                (text("expiry_date"), expires),
            ])])
        );
    }

    #[test]
    fn the_issuers_document_signer_is_certified_by_its_served_root() {
        let key = SigningKey::random(&mut rand::rngs::OsRng);
        let pki = TestPki::generate("http://127.0.0.1:9", &key).unwrap();
        let signer = pki.document_signer().unwrap();
        // Made once.
        assert!(std::ptr::eq(signer, pki.document_signer().unwrap()));
        verify_signer(&signer.certificate, pki.root_pem()).unwrap();
        // Directly by the root: not a certificate of the x5c chain.
        assert!(pki.chain().iter().all(|der| *der != signer.certificate));
        let (_, other_root) = document_signer_under_fresh_root(ROOT_NAME).unwrap();
        assert!(verify_signer(&signer.certificate, &other_root).is_err());
        // Not for TLS servers: the EKU is id-mdl-kp-mdlDS only.
        let der = CertificateDer::from(signer.certificate.clone());
        let leaf = webpki::EndEntityCert::try_from(&der).unwrap();
        let root = CertificateDer::from(pem_der(pki.root_pem()));
        let anchors = [webpki::anchor_from_trusted_cert(&root).unwrap()];
        let provider = tokio_rustls::rustls::crypto::aws_lc_rs::default_provider();
        assert!(leaf
            .verify_for_usage(
                provider.signature_verification_algorithms.all,
                &anchors,
                &[],
                UnixTime::now(),
                webpki::KeyUsage::server_auth(),
                None,
                None,
            )
            .is_err());
        let contains = |needle: &[u8]| {
            signer
                .certificate
                .windows(needle.len())
                .any(|w| w == needle)
        };
        assert!(contains(b"oid4vci-issuer test document signer"));
        assert!(contains(MDL_DS_OID));
    }

    #[test]
    fn each_fault_changes_what_it_names_only() {
        let (_, jwk) = holder();

        let parts_of = |fault: Fault| parts(&issue("pid_mdoc", &jwk, &[fault]).0);

        let wrong = parts_of(Fault::MdocWrongDigest);
        assert_eq!(mismatched(&wrong).len(), 1);
        let wrong_id = mismatched(&wrong)[0];
        let (name, _, _) = elements(&wrong.issuer_signed)
            .into_iter()
            .find(|(_, id, _)| *id == wrong_id)
            .unwrap();
        assert_eq!(name, "family_name");
        assert_eq!(get(&wrong.mso, "docType"), &text(PID_DOCTYPE));

        let doctype = parts_of(Fault::MdocWrongDoctype);
        assert_eq!(get(&doctype.mso, "docType"), &text(OTHER_DOCTYPE));
        assert_eq!(items(&doctype.issuer_signed).0, PID_NAMESPACE);
        assert_eq!(mismatched(&doctype), Vec::<i128>::new());

        let before = now_secs();
        let expired = parts_of(Fault::MdocExpired);
        let after = now_secs();
        let validity = get(&expired.mso, "validityInfo");
        let at = |name: &str, days: i64| {
            (before..=after).any(|now| get(validity, name) == &tdate(now - days * DAY_SECS))
        };
        assert!(at("signed", 10) && at("validFrom", 10), "{validity:?}");
        assert!(at("validUntil", 1), "{validity:?}");
        assert!(tdate_secs(get(validity, "validUntil")) < rfc3339(before));
        assert_eq!(mismatched(&expired), Vec::<i128>::new());

        let stranger = parts_of(Fault::MdocDeviceKeyNotOurs);
        let device_key = get(get(&stranger.mso, "deviceKeyInfo"), "deviceKey");
        let x = Cbor::Bytes(B64.decode(jwk["x"].as_str().unwrap()).unwrap());
        let key_x = &device_key.as_map().unwrap()[2].1;
        assert_eq!(key_x.as_bytes().unwrap().len(), 32);
        assert_ne!(key_x, &x);

        // Faults of other kinds change nothing in an mdoc.
        let unaffected = parts_of(Fault::CredentialExpired);
        assert_eq!(mismatched(&unaffected), Vec::<i128>::new());
        assert_eq!(get(&unaffected.mso, "docType"), &text(PID_DOCTYPE));

        // Through the issuer's PKI: its own document signer, or, outside
        // the anchors, a valid mdoc whose signer is certified by a root that
        // is not the issuer's.
        let key = SigningKey::random(&mut rand::rngs::OsRng);
        let pki = TestPki::generate("http://127.0.0.1:9", &key).unwrap();
        let pid = configuration("pid_mdoc").unwrap();
        for (faults, trusted) in [
            (BTreeSet::new(), true),
            ([Fault::MdocSignerOutsideAnchors].into(), false),
        ] {
            let credential = issue_with_pki(&pki, pid, &jwk, None, &faults).unwrap();
            let issued = parts(&credential);
            assert_eq!(mismatched(&issued), Vec::<i128>::new());
            let certificate = x5chain(&issued.sign1);
            assert!(signature_verifies(
                &issued.sign1,
                &certificate_key(&certificate)
            ));
            assert_eq!(verify_signer(&certificate, pki.root_pem()).is_ok(), trusted);
            assert_eq!(
                certificate == pki.document_signer().unwrap().certificate,
                trusted
            );
            let contains = |needle: &[u8]| certificate.windows(needle.len()).any(|w| w == needle);
            assert_eq!(contains(UNTRUSTED_ROOT_NAME.as_bytes()), !trusted);
        }
    }

    #[test]
    fn overrides_replace_elements_in_their_cbor_types() {
        let (_, jwk) = holder();
        let (signer, _) = signer();
        let overrides = json!({
            "given_name": "Max",
            "birth_date": "1980-02-29",
            "age_over_18": false,
            "portrait": B64.encode([0xff, 0xd8, 0x01]),
            "driving_privileges": [{"vehicle_category_code": "A", "issue_date": "2020-01-01"}],
            "document_number": 42,
            "unknown_element": "ignored",
        });
        let credential = issue_mdoc(
            &signer,
            configuration("mdl_mdoc").unwrap(),
            &jwk,
            overrides.as_object(),
            &BTreeSet::new(),
        )
        .unwrap();
        let mdl = parts(&credential);
        let is = &mdl.issuer_signed;
        assert_eq!(element(is, "given_name"), text("Max"));
        assert_eq!(element(is, "birth_date"), full_date("1980-02-29"));
        // Not an mDL element: ignored, as unknown_element.
        assert!(elements(is).iter().all(|(n, _, _)| n != "age_over_18"));
        assert_eq!(element(is, "portrait"), Cbor::Bytes(vec![0xff, 0xd8, 0x01]));
        assert_eq!(element(is, "document_number"), Cbor::Integer(42.into()));
        assert_eq!(
            element(is, "driving_privileges"),
            Cbor::Array(vec![Cbor::Map(vec![
                (text("vehicle_category_code"), text("A")),
                (text("issue_date"), full_date("2020-01-01")),
            ])])
        );
        assert_eq!(elements(is).len(), 11);
        assert_eq!(mismatched(&mdl), Vec::<i128>::new());
        let credential = issue_mdoc(
            &signer,
            configuration("pid_mdoc").unwrap(),
            &jwk,
            overrides.as_object(),
            &BTreeSet::new(),
        )
        .unwrap();
        let pid = parts(&credential);
        assert_eq!(
            element(&pid.issuer_signed, "age_over_18"),
            Cbor::Bool(false)
        );
        assert_eq!(element(&pid.issuer_signed, "given_name"), text("Max"));
        // The JSON view of the defaults.
        let values = configuration("mdl_mdoc").map(|c| (c.values)()).unwrap();
        assert_eq!(values["birth_date"], "1964-08-12");
        assert_eq!(values["portrait"], B64.encode(PORTRAIT));
        assert_eq!(
            values["driving_privileges"][0]["vehicle_category_code"],
            "B"
        );
        let values = configuration("pid_mdoc").map(|c| (c.values)()).unwrap();
        assert_eq!(values["nationality"], json!(["DE"]));
        assert_eq!(values["age_over_18"], true);
    }

    #[test]
    fn a_bad_holder_key_or_configuration_is_an_error() {
        let (signer, _) = signer();
        let none = BTreeSet::new();
        let pid = configuration("pid_mdoc").unwrap();
        let ed = json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        assert!(issue_mdoc(&signer, pid, &ed, None, &none).is_err());
        let (_, jwk) = holder();
        let sd_jwt = configuration("pid_sd_jwt").unwrap();
        assert!(issue_mdoc(&signer, sd_jwt, &jwk, None, &none).is_err());
    }

    #[test]
    fn sample_mdoc_verifies_to_its_trust_anchor() {
        let (_, jwk) = holder();
        for id in ["pid_mdoc", "mdl_mdoc"] {
            let sample = crate::sample_mdoc(id, &jwk).unwrap();
            let parts = parts(&sample.credential);
            assert_eq!(mismatched(&parts), Vec::<i128>::new());
            let certificate = x5chain(&parts.sign1);
            verify_signer(&certificate, &sample.trust_anchor_pem).unwrap();
            assert!(signature_verifies(
                &parts.sign1,
                &certificate_key(&certificate)
            ));
        }
        assert!(crate::sample_mdoc("pid_sd_jwt", &jwk).is_err());
        assert!(crate::sample_mdoc("nope", &jwk).is_err());
        assert!(crate::sample_mdoc("pid_mdoc", &json!({})).is_err());
    }

    fn metadata_of(draft13: bool) -> Value {
        let settings = Settings {
            spec: if draft13 {
                crate::state::SpecVersion::Draft13
            } else {
                crate::state::SpecVersion::V1
            },
            ..Settings::default()
        };
        let shared = Shared::new(settings, "http://127.0.0.1:9".into(), None);
        crate::metadata::issuer_metadata(&shared)
    }

    #[test]
    fn the_metadata_describes_both_mdoc_configurations() {
        let metadata = metadata_of(false);
        let configurations = &metadata["credential_configurations_supported"];
        for (id, doctype, namespace, count) in [
            ("pid_mdoc", PID_DOCTYPE, PID_NAMESPACE, 9),
            ("mdl_mdoc", MDL_DOCTYPE, MDL_NAMESPACE, 11),
        ] {
            let c = &configurations[id];
            assert_eq!(c["format"], "mso_mdoc", "{c}");
            assert_eq!(c["doctype"], doctype);
            assert_eq!(c["scope"], id);
            assert_eq!(
                c["cryptographic_binding_methods_supported"],
                json!(["cose_key"])
            );
            assert_eq!(c["credential_signing_alg_values_supported"], json!([-7]));
            assert_eq!(
                c["proof_types_supported"],
                json!({"jwt": {"proof_signing_alg_values_supported": ["ES256"]}})
            );
            assert!(c.get("vct").is_none() && c.get("display").is_none());
            let display = c["credential_metadata"]["display"].as_array().unwrap();
            let locales: Vec<&str> = display
                .iter()
                .map(|d| d["locale"].as_str().unwrap())
                .collect();
            assert_eq!(locales, ["en", "de"]);
            let claims = c["credential_metadata"]["claims"].as_array().unwrap();
            assert_eq!(claims.len(), count);
            let (_, jwk) = holder();
            let sample = crate::sample_mdoc(id, &jwk).unwrap();
            let issued = elements(&parts(&sample.credential).issuer_signed);
            for (claim, (name, _, _)) in claims.iter().zip(&issued) {
                assert_eq!(claim["path"], json!([namespace, name]));
                let labels = claim["display"].as_array().unwrap();
                assert_eq!(labels.len(), 2);
                assert_eq!(labels[0]["locale"], "en");
                assert_eq!(labels[1]["locale"], "de");
            }
        }

        // Draft 13: display and a nested claims map on the configuration.
        let metadata = metadata_of(true);
        let c = &metadata["credential_configurations_supported"]["mdl_mdoc"];
        assert_eq!(c["format"], "mso_mdoc");
        assert_eq!(c["doctype"], MDL_DOCTYPE);
        assert!(c.get("credential_metadata").is_none());
        assert_eq!(c["display"][1]["locale"], "de");
        assert_eq!(
            c["claims"][MDL_NAMESPACE]["document_number"]["display"][0]["name"],
            "Licence number"
        );
        assert_eq!(c["claims"][MDL_NAMESPACE].as_object().unwrap().len(), 11);
    }

    #[test]
    fn draft13_requests_name_mdocs_by_doctype() {
        let pid = configuration("pid_mdoc").unwrap();
        let mdl = configuration("mdl_mdoc").unwrap();
        let request = json!({"format": "mso_mdoc", "doctype": PID_DOCTYPE});
        let request = request.as_object().unwrap();
        assert!(pid.named_by_draft13_request(request));
        assert!(!mdl.named_by_draft13_request(request));
        let sd_jwt = json!({"format": "vc+sd-jwt", "doctype": PID_DOCTYPE});
        assert!(!pid.named_by_draft13_request(sd_jwt.as_object().unwrap()));
        let no_doctype = json!({"format": "mso_mdoc"});
        assert!(!pid.named_by_draft13_request(no_doctype.as_object().unwrap()));
        assert_eq!(pid.draft13_format(), "mso_mdoc");
        assert_eq!(pid.vct(), None);
    }
}
