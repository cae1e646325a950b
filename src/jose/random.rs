//! Where the SDK draws randomness: PKCE verifiers, `state`, the `jti` of
//! DPoP proofs and attestation PoPs, DPoP keys, JWE keys and IVs. The OS by
//! default; a test may give a seeded source to make two runs byte-identical.

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
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, dest);
    }
}

/// A [`RandomSource`] as a `rand` generator, for key generation.
pub(crate) struct Rng<'a>(pub(crate) &'a dyn RandomSource);

impl rand::RngCore for Rng<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.0.fill(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.0.fill(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill(dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.0.fill(dest);
        Ok(())
    }
}

/// The source is cryptographically secure by the trait's contract.
impl rand::CryptoRng for Rng<'_> {}
