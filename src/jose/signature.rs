//! What a key returned, made into the JWS signature, and what a key that
//! signs only digests is given: for every algorithm the SDK signs with
//! (ES256, ES384, ES512, EdDSA).
//!
//! Hardware keys answer in their platform's format: Android Keystore
//! (`SHA256withECDSA`) and Apple's SecKey
//! (`.ecdsaSignatureMessageX962SHA256`) return an ASN.1 DER
//! `ECDSA-Sig-Value` (RFC 3279 §2.2.3), where JWS wants R||S, each
//! left-padded to the curve's size (RFC 7518 §3.4). Keys that sign prehashed
//! data only (`NONEwithECDSA`, `.ecdsaSignatureDigestX962SHA256`) are given
//! the digest of the signing input, with the algorithm's hash.
//!
//! The DER is read with the `der` crate (the one x509-cert and rustls's
//! certificate stack use, strict DER: minimal lengths and integers, no
//! trailing bytes); R and S must be in `1..n` for the curve's order `n`.
//! High-S signatures are kept as they are (JWS does not ask for low S).
//!
//! The FFI's adapter of the app's signer uses it (feature `uniffi`).
#![cfg_attr(not(feature = "uniffi"), allow(dead_code))]

use super::{Algorithm, SignerError};
use x509_cert::der::{self, asn1::UintRef, Decode as _, Reader as _, SliceReader};

/// An ECDSA curve: its name, the size of R and S, its order (big-endian, that size).
struct Curve {
    name: &'static str,
    size: usize,
    order: &'static [u8],
}

const P256: Curve = Curve {
    name: "P-256",
    size: 32,
    order: &hex::<32>("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"),
};

const P384: Curve = Curve {
    name: "P-384",
    size: 48,
    order: &hex::<48>(
        "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf\
         581a0db248b0a77aecec196accc52973",
    ),
};

const P521: Curve = Curve {
    name: "P-521",
    size: 66,
    order: &hex::<66>(
        "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\
         fffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e9138\
         6409",
    ),
};

/// The bytes of a hex constant (fails the build when malformed).
const fn hex<const N: usize>(text: &str) -> [u8; N] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not a lowercase hex digit"),
        }
    }
    let text = text.as_bytes();
    assert!(text.len() == 2 * N, "hex constant of the wrong length");
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = (nibble(text[2 * i]) << 4) | nibble(text[2 * i + 1]);
        i += 1;
    }
    out
}

fn curve(algorithm: Algorithm) -> Option<&'static Curve> {
    match algorithm {
        Algorithm::Es256 => Some(&P256),
        Algorithm::Es384 => Some(&P384),
        Algorithm::Es512 => Some(&P521),
        Algorithm::EdDsa => None,
    }
}

/// The length of a raw EdDSA (Ed25519) signature.
const ED25519_SIGNATURE: usize = 64;

/// The JWS signature for `algorithm` from what a key returned: for ES256,
/// ES384 and ES512 raw R||S (64, 96 or 132 bytes) from raw R||S or an ASN.1
/// DER `ECDSA-Sig-Value`; for EdDSA the 64 bytes as they are.
///
/// Input of exactly the raw length is taken as raw: a DER signature that
/// long would need R and S several bytes shorter than the curve's size (for
/// a key's signatures, a chance below 2^-40).
pub(crate) fn jws_signature(algorithm: Algorithm, from_key: &[u8]) -> Result<Vec<u8>, SignerError> {
    let alg = algorithm.as_str();
    let Some(curve) = curve(algorithm) else {
        return if from_key.len() == ED25519_SIGNATURE {
            Ok(from_key.to_vec())
        } else {
            Err(SignerError(format!(
                "the key's {alg} signature is {} bytes, not {ED25519_SIGNATURE}",
                from_key.len()
            )))
        };
    };
    let (r, s) = if from_key.len() == 2 * curve.size {
        from_key.split_at(curve.size)
    } else {
        ecdsa_sig_value(from_key).map_err(|e| {
            SignerError(format!(
                "the key's {alg} signature ({} bytes) is neither raw R||S ({} bytes) nor an \
                 ASN.1 DER ECDSA-Sig-Value: {e}",
                from_key.len(),
                2 * curve.size
            ))
        })?
    };
    let mut signature = Vec::with_capacity(2 * curve.size);
    for (name, value) in [("R", r), ("S", s)] {
        signature.extend(
            scalar(curve, value)
                .map_err(|e| SignerError(format!("the key's {alg} signature: {name} {e}")))?,
        );
    }
    Ok(signature)
}

/// R and S (big-endian, minimal) of a DER `ECDSA-Sig-Value ::= SEQUENCE {
/// r INTEGER, s INTEGER }`, the whole input and nothing after it.
fn ecdsa_sig_value(der: &[u8]) -> der::Result<(&[u8], &[u8])> {
    let mut reader = SliceReader::new(der)?;
    let (r, s) = reader.sequence(|body| {
        let r = UintRef::decode(body)?;
        let s = UintRef::decode(body)?;
        Ok((r.as_bytes(), s.as_bytes()))
    })?;
    reader.finish((r, s))
}

/// `value` (big-endian) left-padded to the curve's size, if it is in `1..n`.
fn scalar(curve: &Curve, value: &[u8]) -> Result<Vec<u8>, String> {
    let significant = &value[value.iter().take_while(|b| **b == 0).count()..];
    if significant.is_empty() {
        return Err("is zero".into());
    }
    if significant.len() > curve.size {
        return Err(format!(
            "is longer than {} bytes, the size of {}",
            curve.size, curve.name
        ));
    }
    let mut padded = vec![0u8; curve.size - significant.len()];
    padded.extend_from_slice(significant);
    // Same length, big-endian: byte order is numeric order.
    if padded.as_slice() >= curve.order {
        return Err(format!("is not below the order of {}", curve.name));
    }
    Ok(padded)
}

/// What a key that signs only digests is given for `signing_input`: its
/// SHA-256, SHA-384 or SHA-512 digest for ES256, ES384, ES512. EdDSA signs
/// the message itself (Ed25519 hashes it twice), so a digest-only key
/// cannot use it.
pub(crate) fn digest_to_sign(
    algorithm: Algorithm,
    signing_input: &[u8],
) -> Result<Vec<u8>, SignerError> {
    match algorithm {
        Algorithm::Es256 => Ok(super::sha256(signing_input).to_vec()),
        Algorithm::Es384 => Ok(super::digest(&aws_lc_rs::digest::SHA384, signing_input)),
        Algorithm::Es512 => Ok(super::digest(&aws_lc_rs::digest::SHA512, signing_input)),
        Algorithm::EdDsa => Err(SignerError(
            "EdDSA signs the message itself: a key that signs only digests cannot use it".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::{b64, verify_jws_signature};
    use aws_lc_rs::signature::{self as lc, EcdsaKeyPair, KeyPair as _};

    /// A fresh aws-lc-rs key for `algorithm` (signing DER or fixed R||S) and its public JWK.
    fn key(algorithm: Algorithm, der: bool) -> (EcdsaKeyPair, serde_json::Value) {
        let (signing, crv, size): (&'static lc::EcdsaSigningAlgorithm, _, _) =
            match (algorithm, der) {
                (Algorithm::Es256, true) => (&lc::ECDSA_P256_SHA256_ASN1_SIGNING, "P-256", 32),
                (Algorithm::Es256, false) => (&lc::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", 32),
                (Algorithm::Es384, true) => (&lc::ECDSA_P384_SHA384_ASN1_SIGNING, "P-384", 48),
                (Algorithm::Es384, false) => (&lc::ECDSA_P384_SHA384_FIXED_SIGNING, "P-384", 48),
                (Algorithm::Es512, true) => (&lc::ECDSA_P521_SHA512_ASN1_SIGNING, "P-521", 66),
                (Algorithm::Es512, false) => (&lc::ECDSA_P521_SHA512_FIXED_SIGNING, "P-521", 66),
                (Algorithm::EdDsa, _) => unreachable!(),
            };
        let pair = EcdsaKeyPair::generate(signing).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        assert_eq!(point.len(), 1 + 2 * size);
        let jwk = serde_json::json!({
            "kty": "EC", "crv": crv,
            "x": b64(&point[1..1 + size]), "y": b64(&point[1 + size..]),
        });
        (pair, jwk)
    }

    const ECDSA: [Algorithm; 3] = [Algorithm::Es256, Algorithm::Es384, Algorithm::Es512];

    fn sign(pair: &EcdsaKeyPair, message: &[u8]) -> Vec<u8> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        pair.sign(&rng, message).unwrap().as_ref().to_vec()
    }

    /// n - s, big-endian, both `order.len()` bytes.
    fn order_minus(order: &[u8], s: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; order.len()];
        let mut borrow = 0i16;
        for i in (0..order.len()).rev() {
            let mut d = i16::from(order[i]) - i16::from(s[i]) - borrow;
            borrow = i16::from(d < 0);
            if d < 0 {
                d += 256;
            }
            out[i] = d as u8;
        }
        assert_eq!(borrow, 0);
        out
    }

    /// DER of r and s (big-endian, any leading zeros): minimal INTEGERs, as a platform encodes them.
    fn der_of(r: &[u8], s: &[u8]) -> Vec<u8> {
        fn integer(v: &[u8]) -> Vec<u8> {
            let mut v: Vec<u8> = v.iter().copied().skip_while(|b| *b == 0).collect();
            if v.is_empty() || v[0] & 0x80 != 0 {
                v.insert(0, 0);
            }
            let mut out = vec![0x02, v.len() as u8];
            out.extend(v);
            out
        }
        let body = [integer(r), integer(s)].concat();
        let mut out = vec![0x30];
        if body.len() >= 0x80 {
            out.push(0x81);
        }
        out.push(body.len() as u8);
        out.extend(body);
        out
    }

    #[test]
    fn der_and_raw_signatures_of_every_curve_become_raw_r_s_that_verifies() {
        for algorithm in ECDSA {
            let alg = algorithm.as_str();
            let size = curve(algorithm).unwrap().size;
            for der in [true, false] {
                let (pair, jwk) = key(algorithm, der);
                for _ in 0..8 {
                    let from_key = sign(&pair, b"header.payload");
                    assert_eq!(from_key[0] == 0x30 && from_key.len() != 2 * size, der);
                    let jws = jws_signature(algorithm, &from_key).unwrap();
                    assert_eq!(jws.len(), 2 * size, "{alg}");
                    verify_jws_signature(alg, &jwk, b"header.payload", &jws)
                        .unwrap_or_else(|e| panic!("{alg} (der: {der}): {e}"));
                    if !der {
                        assert_eq!(jws, from_key, "{alg}: raw R||S is kept as it is");
                    }
                }
            }
        }
    }

    #[test]
    fn p256_der_converts_as_the_p256_crate_does() {
        let (pair, _) = key(Algorithm::Es256, true);
        for _ in 0..16 {
            let der = sign(&pair, b"input");
            let expected = p256::ecdsa::Signature::from_der(&der).unwrap().to_bytes();
            assert_eq!(
                jws_signature(Algorithm::Es256, &der).unwrap(),
                &expected[..]
            );
        }
    }

    #[test]
    fn high_s_signatures_are_kept_and_verify_which_also_checks_the_orders() {
        for algorithm in ECDSA {
            let alg = algorithm.as_str();
            let curve = curve(algorithm).unwrap();
            let (pair, jwk) = key(algorithm, false);
            let raw = sign(&pair, b"input");
            let (r, s) = raw.split_at(curve.size);
            // (r, n - s) is the other valid signature: one of the two is high-S.
            let other_s = order_minus(curve.order, s);
            for s in [s, other_s.as_slice()] {
                for from_key in [[r, s].concat(), der_of(r, s)] {
                    let jws = jws_signature(algorithm, &from_key).unwrap();
                    assert_eq!(jws, [r, s].concat(), "{alg}");
                    verify_jws_signature(alg, &jwk, b"input", &jws)
                        .unwrap_or_else(|e| panic!("{alg}, s or n - s: {e}"));
                }
            }
            assert_eq!(curve.order.len(), curve.size);
        }
        assert_eq!(
            P256.order,
            hex::<32>(&{
                use p256::elliptic_curve::Curve as _;
                format!("{:x}", p256::NistP256::ORDER)
            })
            .as_slice()
        );
    }

    #[test]
    fn short_r_and_s_are_left_padded_from_der() {
        for algorithm in ECDSA {
            let size = curve(algorithm).unwrap().size;
            let (r, s) = ([1u8], [0x7f, 0xff]);
            let jws = jws_signature(algorithm, &der_of(&r, &s)).unwrap();
            let mut expected = vec![0u8; 2 * size];
            expected[size - 1] = 1;
            expected[2 * size - 2..].copy_from_slice(&s);
            assert_eq!(jws, expected, "{}", algorithm.as_str());
        }
    }

    #[test]
    fn malformed_der_is_refused_naming_the_algorithm() {
        for algorithm in ECDSA {
            let alg = algorithm.as_str();
            let curve = curve(algorithm).unwrap();
            let (pair, _) = key(algorithm, false);
            let raw = sign(&pair, b"input");
            let (r, s) = raw.split_at(curve.size);
            let good = der_of(r, s);
            let body_at = if good[1] == 0x81 { 3 } else { 2 };
            let body = &good[body_at..];
            let with_body = |body: &[u8]| {
                let mut out = vec![0x30];
                if body.len() >= 0x80 {
                    out.push(0x81);
                }
                out.push(body.len() as u8);
                out.extend_from_slice(body);
                out
            };
            let s_tlv = &body[2 + usize::from(body[1])..];
            let long_form = if body.len() < 0x80 {
                [&[0x30, 0x81, body.len() as u8][..], body].concat()
            } else {
                [&[0x30, 0x82, 0, body.len() as u8][..], body].concat()
            };
            let mut cases: Vec<(&str, Vec<u8>)> = vec![
                ("empty", vec![]),
                ("truncated", good[..good.len() - 1].to_vec()),
                ("only the header", good[..body_at].to_vec()),
                ("a trailing byte", [good.as_slice(), &[0]].concat()),
                ("a second sequence", [good.as_slice(), &good].concat()),
                ("not a SEQUENCE", [&[0x31], &good[1..]].concat()),
                ("one INTEGER", with_body(&body[..2 + usize::from(body[1])])),
                // An unneeded leading zero (a padded INTEGER): not DER.
                (
                    "a padded INTEGER",
                    with_body(&[&[0x02, 2, 0, 1][..], s_tlv].concat()),
                ),
                // A negative INTEGER (the high bit set without a 0x00).
                (
                    "a negative INTEGER",
                    with_body(&[&[0x02, 1, 0x80][..], s_tlv].concat()),
                ),
                ("a length not in its shortest form", long_form),
                ("raw minus a byte", raw[..raw.len() - 1].to_vec()),
                ("raw plus a byte", [raw.as_slice(), &[0]].concat()),
            ];
            // An r longer than the curve: rejected by length, DER or not.
            let long = vec![0x01; curve.size + 1];
            cases.push(("an r too long", der_of(&long, s)));
            for (case, from_key) in cases {
                let err = jws_signature(algorithm, &from_key)
                    .expect_err(&format!("{alg}: {case} accepted"));
                assert!(err.0.contains(alg), "{alg}: {case}: {err}");
            }
        }
    }

    #[test]
    fn zero_and_out_of_range_r_or_s_are_refused() {
        for algorithm in ECDSA {
            let alg = algorithm.as_str();
            let curve = curve(algorithm).unwrap();
            let one = {
                let mut v = vec![0u8; curve.size];
                v[curve.size - 1] = 1;
                v
            };
            let zero = vec![0u8; curve.size];
            let n = curve.order.to_vec();
            let max = vec![0xff; curve.size];
            for (r, s, what) in [
                (&zero, &one, "R is zero"),
                (&one, &zero, "S is zero"),
                (&n, &one, "R is not below"),
                (&one, &n, "S is not below"),
                (&one, &max, "S is not below"),
            ] {
                for from_key in [[r.as_slice(), s].concat(), der_of(r, s)] {
                    let err = jws_signature(algorithm, &from_key).unwrap_err();
                    assert!(err.0.contains(alg) && err.0.contains(what), "{alg}: {err}");
                }
            }
        }
    }

    #[test]
    fn eddsa_signatures_are_64_bytes_as_they_are() {
        let sig = [7u8; 64];
        assert_eq!(jws_signature(Algorithm::EdDsa, &sig).unwrap(), sig);
        for len in [0, 63, 65, 72] {
            let err = jws_signature(Algorithm::EdDsa, &vec![0x30; len]).unwrap_err();
            assert!(err.0.contains("EdDSA"), "{err}");
        }
    }

    #[test]
    fn signatures_of_another_algorithm_are_refused() {
        // A P-256 signature where P-384 or P-521 is expected, and back.
        let (p256, _) = key(Algorithm::Es256, false);
        let (p384, _) = key(Algorithm::Es384, true);
        let (p521, _) = key(Algorithm::Es512, false);
        let es256 = sign(&p256, b"input");
        let es384_der = sign(&p384, b"input");
        let es512 = sign(&p521, b"input");
        for (algorithm, from_key) in [
            (Algorithm::Es384, &es256),
            (Algorithm::Es512, &es256),
            (Algorithm::Es256, &es384_der),
            (Algorithm::Es256, &es512),
            (Algorithm::Es384, &es512),
            (Algorithm::EdDsa, &es512),
        ] {
            let err = jws_signature(algorithm, from_key).unwrap_err();
            assert!(err.0.contains(algorithm.as_str()), "{err}");
        }
    }

    #[test]
    fn digest_only_keys_get_the_algorithms_digest_and_their_signatures_verify() {
        for (algorithm, hash, len) in [
            (Algorithm::Es256, &aws_lc_rs::digest::SHA256, 32),
            (Algorithm::Es384, &aws_lc_rs::digest::SHA384, 48),
            (Algorithm::Es512, &aws_lc_rs::digest::SHA512, 64),
        ] {
            let alg = algorithm.as_str();
            let digest = digest_to_sign(algorithm, b"header.payload").unwrap();
            assert_eq!(digest.len(), len);
            assert_eq!(
                digest,
                aws_lc_rs::digest::digest(hash, b"header.payload").as_ref()
            );
            // A key that signs the digest only (NONEwithECDSA), answering DER.
            let (pair, jwk) = key(algorithm, true);
            let prehashed = aws_lc_rs::digest::Digest::import_less_safe(&digest, hash).unwrap();
            let der = pair.sign_digest(&prehashed).unwrap().as_ref().to_vec();
            let jws = jws_signature(algorithm, &der).unwrap();
            verify_jws_signature(alg, &jwk, b"header.payload", &jws)
                .unwrap_or_else(|e| panic!("{alg}: {e}"));
        }
        let err = digest_to_sign(Algorithm::EdDsa, b"input").unwrap_err();
        assert!(err.0.contains("EdDSA"), "{err}");
    }
}
