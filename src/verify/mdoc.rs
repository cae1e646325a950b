//! ISO/IEC 18013-5 mdocs as OID4VCI delivers them (format `mso_mdoc`): the
//! base64url `IssuerSigned` structure (ISO 18013-5 8.3.2.1.2.2, OID4VCI 1.0
//! appendix A.2), decoded and checked without IO.
//!
//! - `nameSpaces`: per namespace, a list of tag-24 `IssuerSignedItemBytes`
//!   (`digestID`, `random`, `elementIdentifier`, `elementValue`);
//! - `issuerAuth`: a COSE_Sign1 whose payload is the tag-24
//!   `MobileSecurityObjectBytes` (`valueDigests`, `deviceKeyInfo`, `docType`,
//!   `validityInfo`) and whose `x5chain` header (label 33) carries the
//!   document signer certificate.
//!
//! [`Mdoc::parse`] decodes (bounded: an issuer's bytes are hostile) and
//! checks every item's digest; the signature, the chain and the validity are
//! checked by the caller with [`Mdoc::verify_signature`],
//! [`Mdoc::x5chain`] and [`Mdoc::check_validity`].

use ciborium::Value as Cbor;
use coset::{AsCborValue as _, CoseKey, CoseSign1, Label};
use serde_json::{Map, Value};

/// The largest `IssuerSigned` accepted, after base64url decoding.
pub const MAX_MDOC_BYTES: usize = 1024 * 1024;
/// The deepest CBOR nesting accepted (an mdoc needs about 8).
const MAX_DEPTH: usize = 32;
/// The most items in all namespaces together.
const MAX_ITEMS: usize = 4096;
/// COSE header label of `x5chain` (RFC 9360).
const X5CHAIN: i64 = 33;
/// CBOR tag of encoded CBOR data items (RFC 8949 3.4.5.1).
const TAG_ENCODED_CBOR: u64 = 24;
/// CBOR tag of an RFC 3339 date-time (`tdate`).
const TAG_DATE_TIME: u64 = 0;
/// CBOR tag of an epoch-based date-time.
const TAG_EPOCH: u64 = 1;
/// CBOR tag of an RFC 3339 `full-date` (RFC 8943).
const TAG_FULL_DATE: u64 = 1004;

/// A decoded mdoc whose item digests match its signed Mobile Security Object.
#[derive(Debug, Clone)]
pub struct Mdoc {
    doc_type: String,
    items: Vec<MdocItem>,
    device_jwk: Value,
    digest_algorithm: String,
    validity: Validity,
    sign1: CoseSign1,
    x5chain: Vec<Vec<u8>>,
}

/// One issuer-signed data element.
#[derive(Debug, Clone, PartialEq)]
pub struct MdocItem {
    /// Its namespace, e.g. `org.iso.18013.5.1`.
    pub namespace: String,
    /// Its element identifier, e.g. `family_name`.
    pub identifier: String,
    /// Its value.
    pub value: MdocValue,
    /// Its digest id in the Mobile Security Object.
    pub digest_id: u64,
}

/// A data element's value, typed as CBOR typed it.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum MdocValue {
    /// `null` (or `undefined`).
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Integer(i128),
    /// A floating-point number.
    Float(f64),
    /// A text string.
    Text(String),
    /// A byte string, e.g. a portrait.
    Bytes(Vec<u8>),
    /// A `full-date` (tag 1004, or 18013-5's tag-1004 text): `YYYY-MM-DD`.
    Date(String),
    /// A `tdate` (tag 0, RFC 3339) or an epoch time (tag 1), as RFC 3339 text.
    DateTime(String),
    /// An array.
    Array(Vec<MdocValue>),
    /// A map (keys shown as text).
    Map(Vec<(String, MdocValue)>),
}

impl MdocValue {
    /// The value as JSON: dates as their text, byte strings as base64url.
    pub fn to_json(&self) -> Value {
        match self {
            MdocValue::Null => Value::Null,
            MdocValue::Bool(b) => Value::Bool(*b),
            MdocValue::Integer(i) => i64::try_from(*i)
                .map(Value::from)
                .or_else(|_| u64::try_from(*i).map(Value::from))
                .unwrap_or_else(|_| Value::String(i.to_string())),
            MdocValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            MdocValue::Text(t) | MdocValue::Date(t) | MdocValue::DateTime(t) => {
                Value::String(t.clone())
            }
            MdocValue::Bytes(b) => Value::String(crate::jose::b64(b)),
            MdocValue::Array(a) => Value::Array(a.iter().map(MdocValue::to_json).collect()),
            MdocValue::Map(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect::<Map<_, _>>(),
            ),
        }
    }
}

/// `validityInfo` of the Mobile Security Object, in seconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// When the MSO was signed.
    pub signed: u64,
    /// From when the mdoc is valid.
    pub valid_from: u64,
    /// Until when it is valid.
    pub valid_until: u64,
}

impl Mdoc {
    /// Decodes a base64url `IssuerSigned` and checks its structure and every
    /// item's digest against the signed `valueDigests`. The signature is not
    /// checked here: see [`Self::verify_signature`].
    pub fn parse(text: &str) -> Result<Mdoc, String> {
        let text = text.trim_end_matches('=');
        if text.len() > MAX_MDOC_BYTES / 3 * 4 + 4 {
            return Err(format!("the mdoc is larger than {MAX_MDOC_BYTES} bytes"));
        }
        let bytes = crate::jose::b64_decode(text)
            .ok_or("the mso_mdoc credential is not base64url (IssuerSigned)")?;
        Self::from_cbor(&bytes)
    }

    /// [`Self::parse`] of the CBOR bytes of an `IssuerSigned`.
    pub fn from_cbor(bytes: &[u8]) -> Result<Mdoc, String> {
        if bytes.len() > MAX_MDOC_BYTES {
            return Err(format!("the mdoc is larger than {MAX_MDOC_BYTES} bytes"));
        }
        let issuer_signed = decode(bytes, "IssuerSigned")?;
        let map = as_map(&issuer_signed, "IssuerSigned")?;
        let name_spaces = field(map, "nameSpaces", "IssuerSigned")?;
        let issuer_auth = field(map, "issuerAuth", "IssuerSigned")?;

        // issuerAuth: COSE_Sign1, untagged as 18013-5 has it, or tagged 18.
        let issuer_auth = match issuer_auth {
            Cbor::Tag(18, inner) => inner.as_ref().clone(),
            other => other.clone(),
        };
        let sign1 = CoseSign1::from_cbor_value(issuer_auth)
            .map_err(|e| format!("issuerAuth is not a COSE_Sign1: {e}"))?;
        let x5chain = x5chain(&sign1)?;
        let payload = sign1
            .payload
            .as_deref()
            .ok_or("issuerAuth has no payload (a detached MSO is not allowed)")?;
        let mso_bytes = match decode(payload, "issuerAuth payload")? {
            // MobileSecurityObjectBytes = #6.24(bstr .cbor MobileSecurityObject)
            Cbor::Tag(TAG_ENCODED_CBOR, inner) => match *inner {
                Cbor::Bytes(b) => b,
                _ => return Err("issuerAuth payload: tag 24 does not wrap a byte string".into()),
            },
            _ => return Err("issuerAuth payload is not a tag-24 MobileSecurityObjectBytes".into()),
        };
        let mso = decode(&mso_bytes, "MobileSecurityObject")?;
        let mso = as_map(&mso, "MobileSecurityObject")?;
        let what = "MobileSecurityObject";
        let version = text_field(mso, "version", what)?;
        if !version.starts_with("1.") {
            return Err(format!(
                "MobileSecurityObject version {} is not 1.x",
                crate::error::sanitize(version, 16)
            ));
        }
        let digest_algorithm = text_field(mso, "digestAlgorithm", what)?.to_string();
        let doc_type = text_field(mso, "docType", what)?.to_string();
        let device_key_info = as_map(field(mso, "deviceKeyInfo", what)?, "deviceKeyInfo")?;
        let device_key = field(device_key_info, "deviceKey", "deviceKeyInfo")?;
        let device_jwk = cose_key_jwk(device_key)?;
        let validity = validity(as_map(field(mso, "validityInfo", what)?, "validityInfo")?)?;
        let value_digests = as_map(field(mso, "valueDigests", what)?, "valueDigests")?;

        let items = items(name_spaces)?;
        let mdoc = Mdoc {
            doc_type,
            items: Vec::new(),
            device_jwk,
            digest_algorithm,
            validity,
            sign1,
            x5chain,
        };
        let mut checked = Vec::with_capacity(items.len());
        let mut seen = std::collections::HashSet::new();
        for (item, encoded) in items {
            if !seen.insert((item.namespace.clone(), item.digest_id)) {
                return Err(format!(
                    "{}: digestID {} is used twice",
                    shown(&item.namespace),
                    item.digest_id
                ));
            }
            let expected = lookup(value_digests, &item.namespace)
                .and_then(|d| as_map(d, "valueDigests").ok())
                .and_then(|d| {
                    d.iter().find_map(|(k, v)| {
                        (k.as_integer().and_then(|i| u64::try_from(i).ok()) == Some(item.digest_id))
                            .then_some(v)
                    })
                })
                .and_then(Cbor::as_bytes)
                .ok_or_else(|| {
                    format!(
                        "{}/{}: digestID {} has no digest in the MSO",
                        shown(&item.namespace),
                        shown(&item.identifier),
                        item.digest_id
                    )
                })?;
            if mdoc.digest(&encoded)? != *expected {
                return Err(format!(
                    "{}/{}: the item's digest does not match the MSO's valueDigests",
                    shown(&item.namespace),
                    shown(&item.identifier)
                ));
            }
            checked.push(item);
        }
        Ok(Mdoc {
            items: checked,
            ..mdoc
        })
    }

    fn digest(&self, data: &[u8]) -> Result<Vec<u8>, String> {
        Ok(match self.digest_algorithm.as_str() {
            "SHA-256" => crate::jose::sha256(data).to_vec(),
            "SHA-384" => crate::jose::digest(&aws_lc_rs::digest::SHA384, data),
            "SHA-512" => crate::jose::digest(&aws_lc_rs::digest::SHA512, data),
            other => {
                return Err(format!(
                    "digestAlgorithm {} is not SHA-256, SHA-384 or SHA-512",
                    crate::error::sanitize(other, 16)
                ))
            }
        })
    }

    /// `docType` of the Mobile Security Object, e.g. `org.iso.18013.5.1.mDL`.
    pub fn doc_type(&self) -> &str {
        &self.doc_type
    }

    /// The issuer-signed items, namespace by namespace as issued.
    pub fn items(&self) -> &[MdocItem] {
        &self.items
    }

    /// The device key (`deviceKeyInfo.deviceKey`) as a public JWK: the key
    /// the mdoc is bound to.
    pub fn device_jwk(&self) -> &Value {
        &self.device_jwk
    }

    /// `validityInfo`.
    pub fn validity(&self) -> Validity {
        self.validity
    }

    /// The `x5chain` certificates (DER), document signer first.
    pub fn x5chain(&self) -> &[Vec<u8>] {
        &self.x5chain
    }

    /// The claims as JSON: namespace → element identifier → value (dates as
    /// text, byte strings base64url), so `[namespace, element]` claim paths
    /// of the metadata resolve in it.
    pub fn claims(&self) -> Map<String, Value> {
        let mut out = Map::new();
        for item in &self.items {
            let namespace = out
                .entry(item.namespace.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(elements) = namespace {
                elements.insert(item.identifier.clone(), item.value.to_json());
            }
        }
        out
    }

    /// `validFrom` ≤ `now` ≤ `validUntil` (seconds since the epoch), with
    /// [`super::sd_jwt::CLOCK_SKEW_SECS`] of tolerance.
    pub fn check_validity(&self, now: u64) -> Result<(), String> {
        let skew = super::sd_jwt::CLOCK_SKEW_SECS;
        let v = self.validity;
        if now > v.valid_until.saturating_add(skew) {
            return Err(format!(
                "the mdoc expired {} s ago (validUntil)",
                now - v.valid_until
            ));
        }
        if v.valid_from > now.saturating_add(skew) {
            return Err(format!(
                "the mdoc is not valid for another {} s (validFrom)",
                v.valid_from - now
            ));
        }
        if v.valid_until < v.valid_from {
            return Err("the mdoc's validUntil is before its validFrom".into());
        }
        Ok(())
    }

    /// ISO 18013-5 9.3.3: an `issuing_country` element must be the country
    /// (C) of the document signer certificate (`der`), when it names one.
    pub fn check_issuing_country(&self, der: &[u8]) -> Result<(), String> {
        use x509_cert::der::Decode as _;
        const COUNTRY: x509_cert::der::asn1::ObjectIdentifier =
            x509_cert::der::asn1::ObjectIdentifier::new_unwrap("2.5.4.6");
        let certificate = x509_cert::Certificate::from_der(der)
            .map_err(|e| format!("x5chain document signer certificate: {e}"))?;
        let country = certificate
            .tbs_certificate
            .subject
            .0
            .iter()
            .flat_map(|rdn| rdn.0.iter())
            .find(|a| a.oid == COUNTRY)
            .and_then(|a| {
                // PrintableString as X.520 has it, or the UTF8String some
                // certificate tools write.
                a.value
                    .decode_as::<x509_cert::der::asn1::PrintableStringRef<'_>>()
                    .map(|s| s.as_str().to_string())
                    .or_else(|_| {
                        a.value
                            .decode_as::<x509_cert::der::asn1::Utf8StringRef<'_>>()
                            .map(|s| s.as_str().to_string())
                    })
                    .ok()
            });
        let Some(country) = country else {
            return Ok(());
        };
        for item in &self.items {
            if item.identifier == "issuing_country" {
                if let MdocValue::Text(claimed) = &item.value {
                    if !claimed.eq_ignore_ascii_case(&country) {
                        return Err(format!(
                            "issuing_country {} is not the document signer's country {}",
                            shown(claimed),
                            shown(&country)
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks the COSE_Sign1 signature of `issuerAuth` with `jwk` (the
    /// document signer's public key) and the protected header's `alg`
    /// (ES256, ES384, ES512 or EdDSA).
    pub fn verify_signature(&self, jwk: &Value) -> Result<(), String> {
        let alg = match &self.sign1.protected.header.alg {
            Some(coset::RegisteredLabelWithPrivate::Assigned(a)) => match a {
                coset::iana::Algorithm::ES256 => "ES256",
                coset::iana::Algorithm::ES384 => "ES384",
                coset::iana::Algorithm::ES512 => "ES512",
                coset::iana::Algorithm::EdDSA => "EdDSA",
                other => return Err(format!("issuerAuth algorithm {other:?} cannot be checked")),
            },
            Some(_) => return Err("issuerAuth has an unregistered algorithm".into()),
            None => return Err("issuerAuth has no alg in its protected header".into()),
        };
        let input = self.sign1.tbs_data(b"");
        crate::jose::verify_jws_signature(alg, jwk, &input, &self.sign1.signature)
            .map_err(|e| format!("issuerAuth signature: {e}"))
    }
}

fn shown(text: &str) -> String {
    crate::error::sanitize(text, 60)
}

fn decode(bytes: &[u8], what: &str) -> Result<Cbor, String> {
    let mut reader = bytes;
    let value: Cbor = ciborium::de::from_reader_with_recursion_limit(&mut reader, MAX_DEPTH)
        .map_err(|e| format!("{what} is not valid CBOR: {}", cbor_error(&e)))?;
    if !reader.is_empty() {
        return Err(format!("{what} has {} bytes after its end", reader.len()));
    }
    Ok(value)
}

fn cbor_error<E: std::fmt::Debug>(e: &ciborium::de::Error<E>) -> String {
    match e {
        ciborium::de::Error::Io(_) => "truncated".into(),
        ciborium::de::Error::Syntax(at) => format!("syntax error at byte {at}"),
        ciborium::de::Error::Semantic(at, m) => match at {
            Some(at) => format!("{} at byte {at}", crate::error::sanitize(m, 80)),
            None => crate::error::sanitize(m, 80),
        },
        ciborium::de::Error::RecursionLimitExceeded => {
            format!("nested deeper than {MAX_DEPTH} levels")
        }
    }
}

fn as_map<'a>(value: &'a Cbor, what: &str) -> Result<&'a [(Cbor, Cbor)], String> {
    value
        .as_map()
        .map(Vec::as_slice)
        .ok_or_else(|| format!("{what} is not a CBOR map"))
}

fn lookup<'a>(map: &'a [(Cbor, Cbor)], key: &str) -> Option<&'a Cbor> {
    map.iter()
        .find_map(|(k, v)| (k.as_text() == Some(key)).then_some(v))
}

fn field<'a>(map: &'a [(Cbor, Cbor)], key: &str, what: &str) -> Result<&'a Cbor, String> {
    lookup(map, key).ok_or_else(|| format!("{what} has no {key}"))
}

fn text_field<'a>(map: &'a [(Cbor, Cbor)], key: &str, what: &str) -> Result<&'a str, String> {
    field(map, key, what)?
        .as_text()
        .ok_or_else(|| format!("{what}.{key} is not a text string"))
}

/// The `x5chain` header (label 33): one certificate as a byte string, or an
/// array of them; in the unprotected header as 18013-5 puts it, or the
/// protected one.
fn x5chain(sign1: &CoseSign1) -> Result<Vec<Vec<u8>>, String> {
    let found = [&sign1.unprotected, &sign1.protected.header]
        .into_iter()
        .find_map(|h| {
            h.rest
                .iter()
                .find_map(|(l, v)| (*l == Label::Int(X5CHAIN)).then_some(v))
        });
    let Some(value) = found else {
        return Ok(Vec::new());
    };
    let ders: Vec<Vec<u8>> = match value {
        Cbor::Bytes(b) => vec![b.clone()],
        Cbor::Array(list) => list
            .iter()
            .map(|c| c.as_bytes().cloned())
            .collect::<Option<_>>()
            .ok_or("x5chain holds something that is not a byte string")?,
        _ => return Err("x5chain is neither a byte string nor an array".into()),
    };
    if ders.is_empty() {
        return Err("x5chain is empty".into());
    }
    if ders.len() > super::trust::MAX_CHAIN_CERTIFICATES {
        return Err(format!(
            "x5chain holds more than {} certificates",
            super::trust::MAX_CHAIN_CERTIFICATES
        ));
    }
    Ok(ders)
}

/// Every `IssuerSignedItemBytes` of `nameSpaces`, decoded, with the bytes its
/// digest covers (the whole tag-24 data item).
fn items(name_spaces: &Cbor) -> Result<Vec<(MdocItem, Vec<u8>)>, String> {
    let mut out = Vec::new();
    for (namespace, list) in as_map(name_spaces, "nameSpaces")? {
        let namespace = namespace
            .as_text()
            .ok_or("nameSpaces has a key that is not a text string")?;
        let list = list
            .as_array()
            .ok_or_else(|| format!("nameSpaces.{} is not an array", shown(namespace)))?;
        for (i, entry) in list.iter().enumerate() {
            let at = || format!("nameSpaces.{}[{i}]", shown(namespace));
            if out.len() >= MAX_ITEMS {
                return Err(format!("the mdoc has more than {MAX_ITEMS} items"));
            }
            let inner = match entry {
                Cbor::Tag(TAG_ENCODED_CBOR, inner) => inner
                    .as_bytes()
                    .ok_or_else(|| format!("{}: tag 24 does not wrap a byte string", at()))?,
                _ => return Err(format!("{}: not a tag-24 IssuerSignedItemBytes", at())),
            };
            // What the digest covers: the tag-24 item as encoded. Its bytes
            // are kept as sent; the tag and length header are the preferred
            // serialisation, the only one 18013-5 allows.
            let mut encoded = Vec::with_capacity(inner.len() + 12);
            ciborium::ser::into_writer(entry, &mut encoded)
                .map_err(|_| format!("{}: cannot re-encode", at()))?;
            let item = decode(inner, &at())?;
            let item = as_map(&item, &at())?;
            let digest_id = field(item, "digestID", &at())?
                .as_integer()
                .and_then(|i| u64::try_from(i).ok())
                .ok_or_else(|| format!("{}.digestID is not an unsigned integer", at()))?;
            field(item, "random", &at())?
                .as_bytes()
                .ok_or_else(|| format!("{}.random is not a byte string", at()))?;
            let identifier = text_field(item, "elementIdentifier", &at())?.to_string();
            let value = typed(field(item, "elementValue", &at())?)
                .map_err(|e| format!("{}/{}: {e}", shown(namespace), shown(&identifier)))?;
            out.push((
                MdocItem {
                    namespace: namespace.to_string(),
                    identifier,
                    value,
                    digest_id,
                },
                encoded,
            ));
        }
    }
    Ok(out)
}

fn typed(value: &Cbor) -> Result<MdocValue, String> {
    Ok(match value {
        Cbor::Null => MdocValue::Null,
        Cbor::Bool(b) => MdocValue::Bool(*b),
        Cbor::Integer(i) => MdocValue::Integer(i128::from(*i)),
        Cbor::Float(f) => MdocValue::Float(*f),
        Cbor::Text(t) => MdocValue::Text(t.clone()),
        Cbor::Bytes(b) => MdocValue::Bytes(b.clone()),
        Cbor::Array(a) => MdocValue::Array(a.iter().map(typed).collect::<Result<_, _>>()?),
        Cbor::Map(m) => MdocValue::Map(
            m.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Cbor::Text(t) => t.clone(),
                        Cbor::Integer(i) => i128::from(*i).to_string(),
                        _ => return Err("a map key is neither text nor an integer".to_string()),
                    };
                    Ok((key, typed(v)?))
                })
                .collect::<Result<_, _>>()?,
        ),
        Cbor::Tag(TAG_FULL_DATE, inner) => match inner.as_ref() {
            Cbor::Text(t) if full_date(t).is_some() => MdocValue::Date(t.clone()),
            _ => return Err("a full-date (tag 1004) is not YYYY-MM-DD text".into()),
        },
        Cbor::Tag(TAG_DATE_TIME, inner) => match inner.as_ref() {
            Cbor::Text(t) if rfc3339(t).is_some() => MdocValue::DateTime(t.clone()),
            _ => return Err("a tdate (tag 0) is not RFC 3339 text".into()),
        },
        Cbor::Tag(TAG_EPOCH, inner) => {
            let secs = match inner.as_ref() {
                Cbor::Integer(i) => i64::try_from(*i).ok(),
                Cbor::Float(f) if f.is_finite() => Some(*f as i64),
                _ => None,
            };
            MdocValue::DateTime(
                secs.and_then(|s| u64::try_from(s).ok())
                    .and_then(format_rfc3339)
                    .ok_or("an epoch time (tag 1) is out of range")?,
            )
        }
        // Other tags (e.g. a nested tag-24 item): the value inside.
        Cbor::Tag(_, inner) => typed(inner)?,
        _ => MdocValue::Null,
    })
}

/// `validityInfo`: `signed`, `validFrom`, `validUntil` as `tdate`.
fn validity(map: &[(Cbor, Cbor)]) -> Result<Validity, String> {
    let time = |key: &str| -> Result<u64, String> {
        let value = field(map, key, "validityInfo")?;
        let text = match value {
            Cbor::Tag(TAG_DATE_TIME, inner) => inner.as_text(),
            Cbor::Text(t) => Some(t.as_str()),
            _ => None,
        };
        match (text, value) {
            (Some(t), _) => rfc3339(t),
            (None, Cbor::Tag(TAG_EPOCH, inner)) => {
                inner.as_integer().and_then(|i| u64::try_from(i).ok())
            }
            _ => None,
        }
        .ok_or_else(|| format!("validityInfo.{key} is not a tdate"))
    };
    Ok(Validity {
        signed: time("signed")?,
        valid_from: time("validFrom")?,
        valid_until: time("validUntil")?,
    })
}

/// `YYYY-MM-DD` as (year, month, day), checked as a calendar date.
fn full_date(text: &str) -> Option<(u16, u8, u8)> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u16> {
        let part = text.get(r)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (1..=days)
        .contains(&day)
        .then_some((year, month as u8, day as u8))
}

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: u16, month: u8, day: u8) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// RFC 3339 date-time (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`) as seconds
/// since the epoch.
fn rfc3339(text: &str) -> Option<u64> {
    let (year, month, day) = full_date(text.get(0..10)?)?;
    let rest = text.get(10..)?;
    let rest = rest.strip_prefix(['T', 't'])?;
    let two = |s: &str, at: usize| -> Option<u8> { s.get(at..at + 2)?.parse().ok() };
    let (hour, minute, second) = (two(rest, 0)?, two(rest, 3)?, two(rest, 6)?);
    if rest.get(2..3)? != ":" || rest.get(5..6)? != ":" {
        return None;
    }
    let mut zone = rest.get(8..)?;
    if let Some(fraction) = zone.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        zone = &fraction[digits..];
    }
    let offset: i64 = match zone {
        "Z" | "z" => 0,
        _ => {
            let sign = match zone.get(0..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            if zone.len() != 6 || zone.get(3..4)? != ":" {
                return None;
            }
            sign * (i64::from(two(zone, 1)?) * 3600 + i64::from(two(zone, 4)?) * 60)
        }
    };
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let base = days_from_civil(year, month, day) * 86_400
        + i64::from(hour) * 3600
        + i64::from(minute) * 60
        + i64::from(second.min(59));
    u64::try_from(base - offset).ok()
}

fn format_rfc3339(secs: u64) -> Option<String> {
    let t =
        x509_cert::der::DateTime::from_unix_duration(std::time::Duration::from_secs(secs)).ok()?;
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minutes(),
        t.seconds()
    ))
}

/// A COSE_Key (RFC 9053: EC2 P-256/P-384/P-521, OKP Ed25519) as a public JWK.
fn cose_key_jwk(value: &Cbor) -> Result<Value, String> {
    use coset::iana::{EllipticCurve, KeyType};
    use coset::RegisteredLabel;
    let key = CoseKey::from_cbor_value(value.clone())
        .map_err(|e| format!("deviceKey is not a COSE_Key: {e}"))?;
    let param = |label: i64| {
        key.params
            .iter()
            .find_map(|(l, v)| (*l == Label::Int(label)).then_some(v))
    };
    let bytes = |label: i64, name: &str| -> Result<Vec<u8>, String> {
        param(label)
            .and_then(Cbor::as_bytes)
            .cloned()
            .ok_or_else(|| format!("deviceKey has no {name} byte string"))
    };
    let curve = param(-1)
        .and_then(Cbor::as_integer)
        .and_then(|i| i64::try_from(i).ok());
    match key.kty {
        RegisteredLabel::Assigned(KeyType::EC2) => {
            let (crv, size) = match curve {
                Some(c) if c == EllipticCurve::P_256 as i64 => ("P-256", 32),
                Some(c) if c == EllipticCurve::P_384 as i64 => ("P-384", 48),
                Some(c) if c == EllipticCurve::P_521 as i64 => ("P-521", 66),
                _ => return Err("deviceKey is an EC2 key on an unsupported curve".into()),
            };
            let x = bytes(-2, "x")?;
            let y = bytes(-3, "y")?;
            if x.len() != size || y.len() != size {
                return Err(format!("deviceKey coordinates are not {size} bytes"));
            }
            Ok(serde_json::json!({
                "kty": "EC",
                "crv": crv,
                "x": crate::jose::b64(&x),
                "y": crate::jose::b64(&y),
            }))
        }
        RegisteredLabel::Assigned(KeyType::OKP) if curve == Some(EllipticCurve::Ed25519 as i64) => {
            let x = bytes(-2, "x")?;
            if x.len() != 32 {
                return Err("deviceKey x is not 32 bytes".into());
            }
            Ok(serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": crate::jose::b64(&x)}))
        }
        _ => Err("deviceKey is neither an EC2 nor an Ed25519 OKP key".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_and_full_dates() {
        assert_eq!(rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339("2026-12-02T10:00:00Z"), Some(1_796_205_600));
        assert_eq!(rfc3339("2026-12-02T11:00:00+01:00"), Some(1_796_205_600));
        assert_eq!(rfc3339("2026-12-02T10:00:00.123Z"), Some(1_796_205_600));
        assert_eq!(rfc3339("2026-12-02 10:00:00Z"), None);
        assert_eq!(rfc3339("2026-02-30T10:00:00Z"), None);
        assert_eq!(rfc3339("2026-12-02T10:00:00"), None);
        assert!(full_date("1964-08-12").is_some());
        assert!(full_date("2024-02-29").is_some());
        assert!(full_date("2023-02-29").is_none());
        assert!(full_date("1964-8-12").is_none());
        assert!(full_date("+964-08-12").is_none());
        assert_eq!(days_from_civil(1964, 8, 12), -1968);
        assert_eq!(rfc3339("1964-08-12T00:00:00Z"), None, "before the epoch");
        assert_eq!(
            format_rfc3339(1_796_205_600).as_deref(),
            Some("2026-12-02T10:00:00Z")
        );
    }

    #[test]
    fn hostile_cbor_is_refused_without_allocating_what_it_declares() {
        // An array header declaring 2^62 elements, then nothing.
        let huge = [0x9b, 0x40, 0, 0, 0, 0, 0, 0, 0];
        assert!(Mdoc::from_cbor(&huge).is_err());
        // A byte string declaring 2^62 bytes.
        let bytes = [0x5b, 0x40, 0, 0, 0, 0, 0, 0, 0];
        assert!(Mdoc::from_cbor(&bytes).is_err());
        // Nesting past the limit.
        let deep = vec![0x81; 10_000];
        let e = Mdoc::from_cbor(&deep).unwrap_err();
        assert!(e.contains("nested deeper"), "{e}");
        // Not base64url.
        assert!(Mdoc::parse("not base64!").is_err());
        // A map without issuerAuth.
        let mut empty = Vec::new();
        ciborium::ser::into_writer(
            &Cbor::Map(vec![(Cbor::Text("nameSpaces".into()), Cbor::Map(vec![]))]),
            &mut empty,
        )
        .unwrap();
        let e = Mdoc::from_cbor(&empty).unwrap_err();
        assert!(e.contains("issuerAuth"), "{e}");
    }

    #[test]
    fn typed_values_keep_dates_and_bytes() {
        let date = Cbor::Tag(TAG_FULL_DATE, Box::new(Cbor::Text("1964-08-12".into())));
        assert_eq!(typed(&date).unwrap(), MdocValue::Date("1964-08-12".into()));
        let bad = Cbor::Tag(TAG_FULL_DATE, Box::new(Cbor::Text("12.08.1964".into())));
        assert!(typed(&bad).is_err());
        let epoch = Cbor::Tag(TAG_EPOCH, Box::new(Cbor::Integer(0.into())));
        assert_eq!(
            typed(&epoch).unwrap(),
            MdocValue::DateTime("1970-01-01T00:00:00Z".into())
        );
        assert_eq!(
            typed(&Cbor::Bytes(vec![0xff, 0xd8])).unwrap().to_json(),
            Value::String("_9g".into())
        );
    }
}
