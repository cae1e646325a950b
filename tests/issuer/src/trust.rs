//! X.509 for credentials signed with an `x5c` header (the SD-JWT VC X.509
//! issuer key mechanism): a test PKI made with rcgen at start (a root CA, an
//! intermediate CA and a leaf for the issuer's credential signing key, all
//! P-256 / ECDSA-SHA256), and the forged chains of the `X5c*` faults; and
//! the ISO/IEC 18013-5 document signer of `mso_mdoc` credentials (certified
//! directly by the root CA, made when first needed).

use crate::credential::{CredentialSigner, KeyHeader, SignKey};
use crate::mdoc::DocumentSigner;
use crate::state::Fault;
use p256::ecdsa::SigningKey;
use p256::pkcs8::EncodePrivateKey as _;
use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType, PKCS_ECDSA_P256_SHA256,
};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How the issuer-signed JWT of a credential names its signing key (and,
/// in the `Did*` modes, the issuer). The `Kid` and `X5cChain` modes sign
/// with the issuer's P-256 key (`ES256`); the `Did*` modes with a key of
/// [`crate::CredentialKey`]'s type (`ES256` or `EdDSA`) and put the DID in
/// `iss`. JWT formats only: `mso_mdoc` credentials always name their
/// document signer certificate in the COSE `x5chain` header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialSigning {
    /// A JOSE `kid` header naming the key published at
    /// `/.well-known/jwt-vc-issuer` (the default).
    #[default]
    Kid,
    /// An `x5c` header (no `kid`): the leaf certificate of the issuer's
    /// signing key and the intermediate CA that signed it, each the standard
    /// base64 (with padding) of its DER, as RFC 7515 says. The leaf names the
    /// credential issuer identifier (URI SAN) and its host (IP or DNS SAN);
    /// the root CA is [`crate::RunningIssuer::trust_anchor_pem`] and
    /// `GET /test/trust`. The JWT VC issuer metadata is served as before.
    X5cChain,
    /// The issuer is a `did:jwk`: `iss` is
    /// `did:jwk:<base64url (no padding) of the public JWK JSON>` (only the
    /// public members, `{"crv","kty","x","y"}` or `{"crv","kty","x"}`) and
    /// the header `kid` is `<did>#0`. The key is
    /// [`crate::IssuerBuilder::credential_key`]'s type.
    DidJwk,
    /// The issuer is a `did:key`: `iss` is `did:key:z<base58btc of the
    /// multicodec varint and the public key>` (P-256: `0x80 0x24` and the
    /// 33-byte compressed point; Ed25519: `0xed 0x01` and the 32-byte key)
    /// and the header `kid` is `<did>#z<the same multibase value>`.
    DidKey,
    /// The issuer is a `did:web` of its own host, port and path
    /// (`did:web:127.0.0.1%3A4567:pid`), the header `kid` is `<did>#key-1`,
    /// and the DID document is served at `/.well-known/did.json` (no path)
    /// or `<path>/did.json`.
    DidWeb,
}

impl CredentialSigning {
    /// Whether the issuer is named by a DID (the `Did*` modes).
    pub fn is_did(self) -> bool {
        matches!(
            self,
            CredentialSigning::DidJwk | CredentialSigning::DidKey | CredentialSigning::DidWeb
        )
    }
}

/// The faults that replace the credential's `x5c` chain and signing key.
pub(crate) const X5C_FAULTS: [Fault; 3] = [
    Fault::X5cSelfSigned,
    Fault::X5cLeafForAnotherHost,
    Fault::X5cExpiredLeaf,
];

const DAY_SECS: u64 = 24 * 3600;

/// The common name of the test root CA.
pub(crate) const ROOT_NAME: &str = "oid4vci-issuer test root CA";

/// The common name of the mdoc document signer certificate.
const DOCUMENT_SIGNER_NAME: &str = "oid4vci-issuer test document signer";

/// `id-mdl-kp-mdlDS` (ISO/IEC 18013-5, B.1.4): the extended key usage of a
/// document signer certificate.
pub(crate) const MDL_DS_EKU: [u64; 6] = [1, 0, 18013, 5, 1, 2];

/// The issuer's test PKI: root CA -> intermediate CA (path length 0) -> leaf
/// for the credential signing key; and root CA -> document signer for mdocs.
pub(crate) struct TestPki {
    issuer_id: String,
    root: CertifiedIssuer<'static, KeyPair>,
    root_pem: String,
    intermediate: CertifiedIssuer<'static, KeyPair>,
    /// `[leaf, intermediate]`, DER.
    chain: Vec<Vec<u8>>,
    /// The mdoc document signer, made when first needed.
    document_signer: OnceLock<Result<DocumentSigner, String>>,
}

/// A forged signer: a fresh key and the chain its `x5c` header carries.
pub(crate) struct Forged {
    key: SigningKey,
    chain: Vec<Vec<u8>>,
}

impl Forged {
    /// Signs with the forged key and names its chain in `x5c`.
    pub fn signer(&self) -> CredentialSigner<'_> {
        CredentialSigner {
            key: SignKey::P256(&self.key),
            header: KeyHeader::X5c(&self.chain),
        }
    }
}

impl TestPki {
    /// A fresh root and intermediate CA, and a leaf for `key` naming
    /// `issuer_id`.
    pub fn generate(issuer_id: &str, key: &SigningKey) -> Result<Self, rcgen::Error> {
        let root = root_ca(ROOT_NAME)?;

        let mut intermediate = ca_params(
            "oid4vci-issuer test intermediate CA",
            BasicConstraints::Constrained(0),
        );
        intermediate.use_authority_key_identifier_extension = true;
        set_validity(&mut intermediate, -1, 365);
        let intermediate = CertifiedIssuer::signed_by(intermediate, new_key()?, &root)?;

        let mut pki = TestPki {
            issuer_id: issuer_id.to_string(),
            root_pem: root.pem(),
            root,
            intermediate,
            chain: Vec::new(),
            document_signer: OnceLock::new(),
        };
        let leaf = pki.leaf(key, issuer_id, -1, 90)?;
        pki.chain = vec![leaf, pki.intermediate.der().to_vec()];
        Ok(pki)
    }

    /// The root CA certificate as PEM: the trust anchor.
    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    /// `[leaf, intermediate]`, DER: what the `x5c` header carries.
    pub fn chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    /// The mdoc document signer certified by the root CA (made on the first
    /// call, the same afterwards), or why it could not be made.
    pub fn document_signer(&self) -> Result<&DocumentSigner, String> {
        self.document_signer
            .get_or_init(|| document_signer(&self.root).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The forged signer of an `X5c*` fault; `None` for other faults.
    pub fn forge(&self, fault: Fault) -> Option<Result<Forged, rcgen::Error>> {
        let key = SigningKey::random(&mut rand::rngs::OsRng);
        let chain = match fault {
            Fault::X5cSelfSigned => self_signed(&key, &self.issuer_id).map(|cert| vec![cert]),
            Fault::X5cLeafForAnotherHost => self
                .leaf(&key, "https://other.example", -1, 90)
                .map(|leaf| vec![leaf, self.intermediate.der().to_vec()]),
            Fault::X5cExpiredLeaf => self
                .leaf(&key, &self.issuer_id, -10, -1)
                .map(|leaf| vec![leaf, self.intermediate.der().to_vec()]),
            _ => return None,
        };
        Some(chain.map(|chain| Forged { key, chain }))
    }

    /// An end-entity certificate for `key`, signed by the intermediate CA,
    /// naming `uri` (URI SAN and a SAN for its host), valid from `from` to
    /// `to` days from now.
    fn leaf(
        &self,
        key: &SigningKey,
        uri: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<u8>, rcgen::Error> {
        let mut params = leaf_params(uri)?;
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, from, to);
        let cert = params.signed_by(&key_pair(key)?, &self.intermediate)?;
        Ok(cert.der().to_vec())
    }
}

/// A fresh self-signed P-256 root CA named `name`, valid from a day ago for
/// a year.
fn root_ca(name: &str) -> Result<CertifiedIssuer<'static, KeyPair>, rcgen::Error> {
    let mut root = ca_params(name, BasicConstraints::Unconstrained);
    set_validity(&mut root, -1, 365);
    CertifiedIssuer::self_signed(root, new_key()?)
}

/// An ISO/IEC 18013-5 document signer: a fresh P-256 key and its
/// certificate issued directly by `root` (country DE, CA false, `digitalSignature`,
/// extended key usage `id-mdl-kp-mdlDS`, valid from a day ago for 90 days).
fn document_signer(root: &CertifiedIssuer<'_, KeyPair>) -> Result<DocumentSigner, rcgen::Error> {
    let key = SigningKey::random(&mut rand::rngs::OsRng);
    let mut params = CertificateParams::default();
    // ISO 18013-5 wants the signer's country (C), matching issuing_country.
    params.distinguished_name = country_name(DOCUMENT_SIGNER_NAME);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::Other(MDL_DS_EKU.to_vec())];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, -1, 90);
    let certificate = params.signed_by(&key_pair(&key)?, root)?.der().to_vec();
    Ok(DocumentSigner { key, certificate })
}

/// A document signer under a fresh root CA named `root_name` (not the
/// issuer's), and that root as PEM.
pub(crate) fn document_signer_under_fresh_root(
    root_name: &str,
) -> Result<(DocumentSigner, String), rcgen::Error> {
    let root = root_ca(root_name)?;
    Ok((document_signer(&root)?, root.pem()))
}

/// A single self-signed end-entity certificate for `key` naming `uri`.
fn self_signed(key: &SigningKey, uri: &str) -> Result<Vec<u8>, rcgen::Error> {
    let mut params = leaf_params(uri)?;
    set_validity(&mut params, -1, 90);
    Ok(params.self_signed(&key_pair(key)?)?.der().to_vec())
}

/// A CA certificate's parameters: `keyCertSign` and `cRLSign`.
fn ca_params(name: &str, constraints: BasicConstraints) -> CertificateParams {
    let mut params = CertificateParams::default();
    // The CAs are an IACA too: mdoc verifiers read the country (C) of the
    // document signer's issuer.
    params.distinguished_name = country_name(name);
    params.is_ca = IsCa::Ca(constraints);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

/// An end-entity certificate's parameters for credential signing: basic
/// constraints CA false, `digitalSignature` only, no extended key usage,
/// and the subject alternative names of `uri`.
fn leaf_params(uri: &str) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name("oid4vci-issuer credential signing");
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.subject_alt_names = subject_alt_names(uri)?;
    Ok(params)
}

/// A URI SAN equal to `uri` (percent-encoded when it is not ASCII), and an
/// IP SAN for its host when that is an IP address, a DNS SAN otherwise.
fn subject_alt_names(uri: &str) -> Result<Vec<SanType>, rcgen::Error> {
    let parsed = url::Url::parse(uri).ok();
    let ascii = match &parsed {
        Some(url) if !uri.is_ascii() => url.as_str().to_string(),
        _ => uri.to_string(),
    };
    let mut names = vec![SanType::URI(Ia5String::try_from(ascii)?)];
    match parsed.as_ref().and_then(url::Url::host) {
        Some(url::Host::Ipv4(ip)) => names.push(SanType::IpAddress(ip.into())),
        Some(url::Host::Ipv6(ip)) => names.push(SanType::IpAddress(ip.into())),
        Some(url::Host::Domain(name)) => names.push(SanType::DnsName(name.try_into()?)),
        None => {}
    }
    Ok(names)
}

/// [`distinguished_name`] with the country DE first, as ISO 18013-5 wants
/// it of IACA and document signer certificates (a PrintableString, as X.520
/// has it; rcgen's default is UTF8String).
fn country_name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(
        DnType::CountryName,
        rcgen::DnValue::PrintableString("DE".try_into().expect("printable")),
    );
    for (kind, value) in distinguished_name(common_name).iter() {
        name.push(kind.clone(), value.clone());
    }
    name
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "oid4vci-issuer (test)");
    name.push(DnType::CommonName, common_name);
    name
}

/// Validity from `from` to `to` days from now (negative: in the past).
fn set_validity(params: &mut CertificateParams, from: i64, to: i64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    // rcgen's dates are `time::OffsetDateTime`s; this crate does not name
    // the `time` crate, it reaches them through rcgen.
    let at = |days: i64| {
        let epoch = rcgen::date_time_ymd(1970, 1, 1) + now;
        let offset = Duration::from_secs(days.unsigned_abs() * DAY_SECS);
        if days < 0 {
            epoch - offset
        } else {
            epoch + offset
        }
    };
    params.not_before = at(from);
    params.not_after = at(to);
}

/// A fresh P-256 CA key.
fn new_key() -> Result<KeyPair, rcgen::Error> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
}

/// The p256 key as an rcgen key pair, through its PKCS#8 DER.
fn key_pair(key: &SigningKey) -> Result<KeyPair, rcgen::Error> {
    let der = key
        .to_pkcs8_der()
        .map_err(|_| rcgen::Error::CouldNotParseKeyPair)?;
    KeyPair::try_from(der.as_bytes())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::credential::{configuration, issue_sd_jwt, Issuance};
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use base64::Engine as _;
    use p256::ecdsa::signature::Verifier as _;
    use p256::ecdsa::{Signature, VerifyingKey};
    use p256::pkcs8::EncodePublicKey as _;
    use serde_json::Value;
    use tokio_rustls::rustls::client::{
        verify_server_cert_signed_by_trust_anchor, verify_server_name,
    };
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use tokio_rustls::rustls::server::ParsedCertificate;
    use tokio_rustls::rustls::{CertificateError, Error, RootCertStore};

    const ISSUER: &str = "http://127.0.0.1:9/tenant";

    fn key() -> SigningKey {
        SigningKey::random(&mut rand::rngs::OsRng)
    }

    /// The DER of a single-certificate PEM.
    pub(crate) fn pem_der(pem: &str) -> Vec<u8> {
        let body: String = pem
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        STANDARD.decode(body).unwrap()
    }

    /// Verifies `chain` (leaf first) to the root of `root_pem` with webpki,
    /// at `now` and for `host`.
    pub(crate) fn verify_to(
        root_pem: &str,
        chain: &[Vec<u8>],
        host: &str,
        now: UnixTime,
    ) -> Result<(), Error> {
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from(pem_der(root_pem))).unwrap();
        let leaf = CertificateDer::from(chain[0].clone());
        let intermediates: Vec<CertificateDer<'_>> = chain[1..]
            .iter()
            .map(|der| CertificateDer::from(der.clone()))
            .collect();
        let parsed = ParsedCertificate::try_from(&leaf)?;
        let provider = tokio_rustls::rustls::crypto::aws_lc_rs::default_provider();
        verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &roots,
            &intermediates,
            now,
            provider.signature_verification_algorithms.all,
        )?;
        verify_server_name(&parsed, &ServerName::try_from(host.to_string()).unwrap())
    }

    fn verify(pki: &TestPki, chain: &[Vec<u8>], host: &str, now: UnixTime) -> Result<(), Error> {
        verify_to(pki.root_pem(), chain, host, now)
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    /// The DER of the extension OIDs 2.5.29.37 (extKeyUsage) and 2.5.29.15
    /// (keyUsage).
    const EKU_OID: &[u8] = &[0x06, 0x03, 0x55, 0x1d, 0x25];
    const KU_OID: &[u8] = &[0x06, 0x03, 0x55, 0x1d, 0x0f];

    #[test]
    fn the_chain_verifies_to_the_root_for_the_issuer_and_holds_its_key() {
        let key = key();
        let pki = TestPki::generate(ISSUER, &key).unwrap();
        let chain = pki.chain();
        assert_eq!(chain.len(), 2);
        verify(&pki, chain, "127.0.0.1", UnixTime::now()).unwrap();
        // The IP SAN names only the issuer's host.
        let err = verify(&pki, chain, "127.0.0.2", UnixTime::now()).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidCertificate(
                    CertificateError::NotValidForName
                        | CertificateError::NotValidForNameContext { .. }
                )
            ),
            "{err:?}"
        );
        // Not without the intermediate.
        assert!(verify(&pki, &chain[..1], "127.0.0.1", UnixTime::now()).is_err());

        let leaf = CertificateDer::from(chain[0].clone());
        let parsed = ParsedCertificate::try_from(&leaf).unwrap();
        let spki = key.verifying_key().to_public_key_der().unwrap();
        assert_eq!(parsed.subject_public_key_info().as_ref(), spki.as_bytes());
        assert!(contains(&chain[0], ISSUER.as_bytes()), "the URI SAN");
        assert!(contains(&chain[0], KU_OID));
        assert!(!contains(&chain[0], EKU_OID), "no extended key usage");
        assert!(pki.root_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        // The root is neither of the chain's certificates.
        let root = pem_der(pki.root_pem());
        assert!(chain.iter().all(|der| *der != root));
    }

    #[test]
    fn a_dns_issuer_gets_a_dns_san() {
        let pki = TestPki::generate("https://issuer.example/x", &key()).unwrap();
        verify(&pki, pki.chain(), "issuer.example", UnixTime::now()).unwrap();
        assert!(contains(&pki.chain()[0], b"https://issuer.example/x"));
    }

    #[test]
    fn each_forgery_fails_for_its_own_reason() {
        let pki = TestPki::generate(ISSUER, &key()).unwrap();
        let now = UnixTime::now();
        assert!(pki.forge(Fault::CredentialSignedByOtherKey).is_none());

        let forged = pki.forge(Fault::X5cSelfSigned).unwrap().unwrap();
        assert_eq!(forged.chain.len(), 1);
        assert!(contains(&forged.chain[0], ISSUER.as_bytes()));
        let err = verify(&pki, &forged.chain, "127.0.0.1", now).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidCertificate(CertificateError::UnknownIssuer)
            ),
            "{err:?}"
        );

        let forged = pki.forge(Fault::X5cLeafForAnotherHost).unwrap().unwrap();
        assert_eq!(forged.chain.len(), 2);
        verify(&pki, &forged.chain, "other.example", now).unwrap();
        assert!(verify(&pki, &forged.chain, "127.0.0.1", now).is_err());
        assert!(contains(&forged.chain[0], b"https://other.example"));
        assert!(!contains(&forged.chain[0], ISSUER.as_bytes()));

        let forged = pki.forge(Fault::X5cExpiredLeaf).unwrap().unwrap();
        let err = verify(&pki, &forged.chain, "127.0.0.1", now).unwrap_err();
        let Error::InvalidCertificate(CertificateError::ExpiredContext { not_after, .. }) = err
        else {
            panic!("not expired: {err:?}");
        };
        // It ended a day ago, and it names the issuer.
        let ended = now.as_secs() - not_after.as_secs();
        assert!(ended.abs_diff(DAY_SECS) < 60, "ended {ended} s ago");
        let leaf = CertificateDer::from(forged.chain[0].clone());
        let parsed = ParsedCertificate::try_from(&leaf).unwrap();
        verify_server_name(&parsed, &ServerName::try_from("127.0.0.1").unwrap()).unwrap();
        assert!(contains(&forged.chain[0], ISSUER.as_bytes()));
    }

    #[test]
    fn an_x5c_credential_carries_the_chain_in_standard_base64() {
        let key = key();
        let pki = TestPki::generate(ISSUER, &key).unwrap();
        let signer = CredentialSigner {
            key: SignKey::P256(&key),
            header: KeyHeader::X5c(pki.chain()),
        };
        let pid = configuration("pid_sd_jwt").unwrap();
        let sd = issue_sd_jwt(&signer, pid, &Issuance::new(ISSUER), "dc+sd-jwt");
        let jwt = sd.split('~').next().unwrap();
        let (input, signature) = jwt.rsplit_once('.').unwrap();
        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(input.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["typ"], "dc+sd-jwt");
        assert_eq!(header["alg"], "ES256");
        assert!(header.get("kid").is_none());
        let x5c = header["x5c"].as_array().unwrap();
        assert_eq!(x5c.len(), 2);
        for (encoded, der) in x5c.iter().zip(pki.chain()) {
            let encoded = encoded.as_str().unwrap();
            assert_eq!(&STANDARD.decode(encoded).unwrap(), der);
            assert_eq!(encoded, STANDARD.encode(der));
        }
        // Signed by the leaf's key.
        let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap()).unwrap();
        VerifyingKey::from(&key)
            .verify(input.as_bytes(), &signature)
            .unwrap();
    }
}
