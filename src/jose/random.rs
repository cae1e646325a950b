//! Where the SDK draws randomness: PKCE verifiers, `state`, the `jti` of
//! DPoP proofs and attestation PoPs, DPoP keys, JWE keys and IVs. The OS by
//! default; a test may give a seeded source, with signers that sign
//! deterministically (RFC 6979), to make two runs byte-identical. The
//! ECDSA nonces of [`SoftwareSigner`](super::SoftwareSigner) signatures
//! (the SDK's own DPoP keys among them) are drawn inside aws-lc-rs, not
//! from this source.

/// A source of cryptographically secure random bytes.
pub trait RandomSource: Send + Sync {
    /// Fills `dest` with random bytes.
    fn fill(&self, dest: &mut [u8]);
}

/// The operating system's generator (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn fill(&self, dest: &mut [u8]) {
        // aws-lc-rs's generator, seeded by the OS; it fails only when the
        // OS has no entropy to give, where no key can be made safely.
        aws_lc_rs::rand::fill(dest).expect("the operating system's random generator failed");
    }
}

/// A P-256 private scalar from `random`: 32 bytes, drawn again in the
/// (about 2^-32) case that they are zero or not below the group order.
pub(crate) fn p256_scalar(random: &dyn RandomSource) -> [u8; 32] {
    loop {
        let mut scalar = [0u8; 32];
        random.fill(&mut scalar);
        let valid = aws_lc_rs::agreement::PrivateKey::from_private_key(
            &aws_lc_rs::agreement::ECDH_P256,
            &scalar,
        )
        .is_ok();
        if valid {
            return scalar;
        }
    }
}
