//! The app's trust anchors and `x5c` chains: an issuer key found in a
//! credential's `x5c` header is trusted only when its chain is a valid RFC 5280
//! path (signatures, validity at the wallet's clock, basic constraints, key
//! usage) to one of the app's anchors, and the leaf certificate names the
//! issuer (`iss` as a URI subject alternative name, or its host as a DNS name
//! or IP address). Paths are built and checked by `rustls-webpki` (with the
//! `aws-lc-rs` algorithms rustls already links); names and key usage are read
//! with `x509-cert`.

use base64::Engine as _;
use rustls_pki_types::{CertificateDer, UnixTime};
use serde_json::Value;
use x509_cert::der::oid::AssociatedOid as _;
use x509_cert::der::Decode as _;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{KeyUsage, KeyUsages, SubjectAltName};

/// The most certificates an `x5c` header may hold.
pub const MAX_CHAIN_CERTIFICATES: usize = 8;
/// The largest certificate (DER) accepted in an `x5c` header or as an anchor.
pub const MAX_CERTIFICATE_BYTES: usize = 16 * 1024;

/// The X.509 roots the app trusts for credential issuers (e.g. from an EU
/// trusted list), kept apart from the roots trusted for TLS.
#[derive(Debug, Clone, Default)]
pub struct TrustAnchors {
    certificates: Vec<CertificateDer<'static>>,
}

impl TrustAnchors {
    /// No anchors: every `x5c` chain is unverified.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the certificates of a PEM file (one or more `CERTIFICATE`
    /// blocks) or one DER certificate. Returns how many were added.
    pub fn add(&mut self, pem_or_der: &[u8]) -> Result<usize, String> {
        let ders: Vec<Vec<u8>> = if pem_or_der.starts_with(b"-----") || is_pem_text(pem_or_der) {
            pem_certificates(pem_or_der)?
        } else {
            vec![pem_or_der.to_vec()]
        };
        if ders.is_empty() {
            return Err("no CERTIFICATE block in the PEM text".into());
        }
        for der in &ders {
            if der.len() > MAX_CERTIFICATE_BYTES {
                return Err(format!(
                    "a trust anchor is larger than {MAX_CERTIFICATE_BYTES} bytes"
                ));
            }
            let certificate = CertificateDer::from(der.clone());
            webpki::anchor_from_trusted_cert(&certificate)
                .map_err(|e| format!("not a usable trust anchor certificate: {e:?}"))?;
            self.certificates.push(certificate);
        }
        Ok(ders.len())
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.certificates.len()
    }
}

fn is_pem_text(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok_and(|t| t.contains("-----BEGIN CERTIFICATE-----"))
}

/// The DER of every `CERTIFICATE` block of a PEM text.
fn pem_certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let text = std::str::from_utf8(pem).map_err(|_| "PEM text is not UTF-8".to_string())?;
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let body = &rest[start + "-----BEGIN CERTIFICATE-----".len()..];
        let end = body
            .find("-----END CERTIFICATE-----")
            .ok_or("a CERTIFICATE block has no END line")?;
        let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| "a CERTIFICATE block is not base64".to_string())?;
        out.push(der);
        rest = &body[end..];
    }
    Ok(out)
}

/// What an `x5c` header established.
#[derive(Debug, Clone, PartialEq)]
pub enum ChainOutcome {
    /// A valid path to an anchor, and the leaf names the issuer.
    Trusted {
        /// The anchor's subject, e.g. `CN=Test Root`.
        anchor: String,
        /// The leaf certificate's public key as a JWK.
        leaf_jwk: Value,
    },
    /// The chain reaches none of the anchors (or there are none): the key is
    /// vouched for only by the credential itself.
    NoAnchor {
        /// Why not.
        reason: String,
        /// The leaf certificate's public key as a JWK.
        leaf_jwk: Value,
    },
}

/// Checks an `x5c` header (base64 DER, leaf first) for `issuer` at `now`
/// (seconds since the epoch). An error is a chain that is broken, not merely
/// untrusted: a bad signature, a certificate expired or not yet valid, a CA
/// used as the leaf, a leaf naming another issuer, a malformed certificate.
pub fn check_x5c(
    x5c: &Value,
    anchors: &TrustAnchors,
    issuer: &str,
    now: u64,
) -> Result<ChainOutcome, String> {
    let entries = x5c
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or("x5c is not a non-empty array")?;
    if entries.len() > MAX_CHAIN_CERTIFICATES {
        return Err(format!(
            "x5c holds more than {MAX_CHAIN_CERTIFICATES} certificates"
        ));
    }
    let mut ders = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let text = entry
            .as_str()
            .ok_or_else(|| format!("x5c[{i}] is not a string"))?;
        if text.len() > MAX_CERTIFICATE_BYTES * 4 / 3 + 4 {
            return Err(format!(
                "x5c[{i}] is larger than {MAX_CERTIFICATE_BYTES} bytes"
            ));
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| format!("x5c[{i}] is not base64 (RFC 7515 4.1.6)"))?;
        ders.push(CertificateDer::from(der));
    }
    check_chain(ders, anchors, Some(issuer), now)
}

/// Checks the `x5chain` of an mdoc's `issuerAuth` (DER, document signer
/// first) at `now`: the same path checks as [`check_x5c`], against the app's
/// IACA anchors. An mdoc names no issuer URL, so the document signer's names
/// are not matched: the anchor is what vouches for it.
pub fn check_x5chain(
    x5chain: &[Vec<u8>],
    anchors: &TrustAnchors,
    now: u64,
) -> Result<ChainOutcome, String> {
    if x5chain.is_empty() {
        return Err("x5chain is empty".into());
    }
    if x5chain.len() > MAX_CHAIN_CERTIFICATES {
        return Err(format!(
            "x5chain holds more than {MAX_CHAIN_CERTIFICATES} certificates"
        ));
    }
    if let Some(i) = x5chain.iter().position(|c| c.len() > MAX_CERTIFICATE_BYTES) {
        return Err(format!(
            "x5chain[{i}] is larger than {MAX_CERTIFICATE_BYTES} bytes"
        ));
    }
    let ders = x5chain
        .iter()
        .map(|c| CertificateDer::from(c.clone()))
        .collect();
    check_chain(ders, anchors, None, now)
}

/// The path checks shared by `x5c` and `x5chain`; `issuer`, when given, must
/// be named by the leaf.
fn check_chain(
    ders: Vec<CertificateDer<'static>>,
    anchors: &TrustAnchors,
    issuer: Option<&str>,
    now: u64,
) -> Result<ChainOutcome, String> {
    let leaf = x509_cert::Certificate::from_der(&ders[0])
        .map_err(|e| format!("x5c leaf certificate: {e}"))?;
    let leaf_jwk = public_jwk(&leaf)?;
    check_leaf_usage(&leaf)?;
    if let Some(issuer) = issuer {
        check_leaf_names(&leaf, issuer)?;
    }
    if anchors.is_empty() {
        return Ok(ChainOutcome::NoAnchor {
            reason: "the app configured no trust anchors".into(),
            leaf_jwk,
        });
    }
    let trust: Vec<_> = anchors
        .certificates
        .iter()
        .filter_map(|c| webpki::anchor_from_trusted_cert(c).ok())
        .collect();
    let end_entity = webpki::EndEntityCert::try_from(&ders[0])
        .map_err(|e| format!("x5c leaf certificate: {e:?}"))?;
    let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(now));
    match end_entity.verify_for_usage(
        CHAIN_ALGORITHMS,
        &trust,
        &ders[1..],
        time,
        AnyExtendedKeyUsage,
        None,
        None,
    ) {
        Ok(path) => {
            let reached = path.anchor().subject.as_ref();
            let anchor = anchors
                .certificates
                .iter()
                .filter(|c| {
                    webpki::anchor_from_trusted_cert(c).is_ok_and(|a| a.subject.as_ref() == reached)
                })
                .find_map(|c| x509_cert::Certificate::from_der(c).ok())
                .map(|c| c.tbs_certificate.subject.to_string())
                .unwrap_or_else(|| "an anchor".into());
            Ok(ChainOutcome::Trusted { anchor, leaf_jwk })
        }
        Err(webpki::Error::UnknownIssuer) => Ok(ChainOutcome::NoAnchor {
            reason: "the x5c chain reaches none of the app's trust anchors".into(),
            leaf_jwk,
        }),
        Err(e) => Err(format!("x5c chain: {}", describe(&e))),
    }
}

/// The certificate signature algorithms accepted in a chain: ECDSA on the
/// NIST curves, Ed25519, and RSA (2048 bits or more) for roots of trusted
/// lists.
static CHAIN_ALGORITHMS: &[&dyn rustls_pki_types::SignatureVerificationAlgorithm] = &[
    webpki::aws_lc_rs::ECDSA_P256_SHA256,
    webpki::aws_lc_rs::ECDSA_P256_SHA384,
    webpki::aws_lc_rs::ECDSA_P384_SHA256,
    webpki::aws_lc_rs::ECDSA_P384_SHA384,
    webpki::aws_lc_rs::ECDSA_P384_SHA512,
    webpki::aws_lc_rs::ECDSA_P521_SHA512,
    webpki::aws_lc_rs::ED25519,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA384,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA512,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
];

/// Credential signing certificates carry varied extended key usages (or
/// none); the leaf's key usage and name are what bind it to the issuer.
struct AnyExtendedKeyUsage;

impl webpki::ExtendedKeyUsageValidator for AnyExtendedKeyUsage {
    fn validate(&self, iter: webpki::KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        for purpose in iter {
            purpose?;
        }
        Ok(())
    }
}

fn describe(e: &webpki::Error) -> String {
    match e {
        webpki::Error::CertExpired { .. } => "a certificate has expired".into(),
        webpki::Error::CertNotValidYet { .. } => "a certificate is not valid yet".into(),
        webpki::Error::CaUsedAsEndEntity => "the leaf is a CA certificate".into(),
        webpki::Error::EndEntityUsedAsCa => "an end-entity certificate signs another".into(),
        webpki::Error::InvalidSignatureForPublicKey => "a certificate signature is invalid".into(),
        other => format!("{other:?}"),
    }
}

/// The leaf's key usage, when it has the extension, allows signatures.
fn check_leaf_usage(leaf: &x509_cert::Certificate) -> Result<(), String> {
    let Some(extensions) = &leaf.tbs_certificate.extensions else {
        return Ok(());
    };
    for ext in extensions {
        if ext.extn_id == KeyUsage::OID {
            let usage = KeyUsage::from_der(ext.extn_value.as_bytes())
                .map_err(|e| format!("x5c leaf key usage: {e}"))?;
            if !usage.0.contains(KeyUsages::DigitalSignature) {
                return Err("the x5c leaf certificate's key usage excludes signatures".into());
            }
        }
    }
    Ok(())
}

/// The leaf names the issuer: a URI SAN equal to `issuer`, or a DNS or IP
/// SAN equal to its host.
fn check_leaf_names(leaf: &x509_cert::Certificate, issuer: &str) -> Result<(), String> {
    let host = url::Url::parse(issuer)
        .ok()
        .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_string()));
    let mut names = Vec::new();
    for ext in leaf.tbs_certificate.extensions.iter().flatten() {
        if ext.extn_id != SubjectAltName::OID {
            continue;
        }
        let san = SubjectAltName::from_der(ext.extn_value.as_bytes())
            .map_err(|e| format!("x5c leaf subject alternative names: {e}"))?;
        for name in san.0 {
            match name {
                GeneralName::UniformResourceIdentifier(uri) if uri.as_str() == issuer => {
                    return Ok(())
                }
                GeneralName::DnsName(dns)
                    if host
                        .as_deref()
                        .is_some_and(|h| h.eq_ignore_ascii_case(dns.as_str())) =>
                {
                    return Ok(())
                }
                GeneralName::IpAddress(ip) => {
                    let ip = ip_text(ip.as_bytes());
                    if ip.is_some() && ip == host {
                        return Ok(());
                    }
                    names.extend(ip);
                }
                GeneralName::UniformResourceIdentifier(uri) => names.push(uri.to_string()),
                GeneralName::DnsName(dns) => names.push(dns.to_string()),
                _ => {}
            }
        }
    }
    let shown: Vec<String> = names
        .iter()
        .take(4)
        .map(|n| crate::error::sanitize(n, 80))
        .collect();
    Err(format!(
        "the x5c leaf certificate does not name the issuer {} (it names {})",
        crate::error::sanitize(issuer, 120),
        if shown.is_empty() {
            "no URI, DNS or IP subject alternative name".to_string()
        } else {
            shown.join(", ")
        }
    ))
}

fn ip_text(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => Some(std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string()),
        16 => {
            let octets: [u8; 16] = bytes.try_into().ok()?;
            Some(std::net::Ipv6Addr::from(octets).to_string())
        }
        _ => None,
    }
}

/// The certificate's public key as a JWK: EC on P-256, P-384 or P-521, or
/// Ed25519.
pub(crate) fn public_jwk(cert: &x509_cert::Certificate) -> Result<Value, String> {
    use x509_cert::der::asn1::ObjectIdentifier as Oid;
    const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
    const ED25519: Oid = Oid::new_unwrap("1.3.101.112");
    const CURVES: [(Oid, &str, usize); 3] = [
        (Oid::new_unwrap("1.2.840.10045.3.1.7"), "P-256", 32),
        (Oid::new_unwrap("1.3.132.0.34"), "P-384", 48),
        (Oid::new_unwrap("1.3.132.0.35"), "P-521", 66),
    ];
    let spki = &cert.tbs_certificate.subject_public_key_info;
    let key = spki
        .subject_public_key
        .as_bytes()
        .ok_or("x5c certificate key is not a whole number of bytes")?;
    let b64 = crate::jose::b64;
    if spki.algorithm.oid == ED25519 && key.len() == 32 {
        return Ok(serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": b64(key)}));
    }
    if spki.algorithm.oid == EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<Oid>().ok());
        if let Some((_, crv, size)) = CURVES.iter().find(|(oid, ..)| Some(*oid) == curve) {
            if key.len() == 1 + 2 * size && key[0] == 0x04 {
                return Ok(serde_json::json!({
                    "kty": "EC",
                    "crv": crv,
                    "x": b64(&key[1..=*size]),
                    "y": b64(&key[1 + size..]),
                }));
            }
            return Err(format!(
                "x5c certificate key is not an uncompressed {crv} point"
            ));
        }
    }
    Err("x5c certificate key is not an EC P-256/P-384/P-521 or Ed25519 key".into())
}
