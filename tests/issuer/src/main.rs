//! `oid4vci-issuer`: runs the reference issuer until killed.
//!
//! Prints one JSON line `{"ready":"http://HOST:PORT",...}` on stdout once it
//! accepts connections (with `credential_issuer`, `authorization_server`,
//! `certificate_pem`, `trust_anchor_pem` and `credential_issuer_did`).
//! Create offers with `POST /test/offers`, wallet attestations with
//! `POST /test/wallet-attestation`, key attestations with
//! `POST /test/key-attestation`.

use clap::Parser;
use oid4vci_issuer::{
    CredentialKey, CredentialSigning, Encryption, Fault, Issuer, KeyAttestations, SpecVersion,
    WalletAttestation,
};
use std::io::Write as _;

/// The reference OID4VCI issuer and authorization server.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// A path for the issuer identifier, e.g. `/tenant`.
    #[arg(long, default_value = "")]
    path: String,
    /// A deliberate misbehaviour (repeatable); `--fault list` prints the names.
    #[arg(long = "fault")]
    faults: Vec<String>,
    /// Advertise no nonce endpoint (`c_nonce` in token and credential responses).
    #[arg(long)]
    no_nonce_endpoint: bool,
    /// Return no `credential_identifiers` in the token response.
    #[arg(long)]
    no_credential_identifiers: bool,
    /// Deferred `interval` in seconds.
    #[arg(long, default_value_t = 1)]
    deferred_interval: u64,
    /// How many deferred polls answer "pending" before issuance.
    #[arg(long, default_value_t = 2)]
    deferred_pending_polls: u32,
    /// `batch_credential_issuance.batch_size`; 0 advertises none.
    #[arg(long, default_value_t = 3)]
    batch_size: u32,
    /// A canned answer (repeatable), as JSON, e.g.
    /// `{"endpoint":"token","status":500,"body":"empty"}` or
    /// `{"endpoint":"credential","status":200,"content_type":"application/json","body":{"json":{"credentials":[]}},"times":1}`.
    #[arg(long = "respond", value_name = "JSON")]
    responses: Vec<String>,
    /// Speak draft 13 (appended metadata URL, vc+sd-jwt, c_nonce, proof,
    /// single credential, issuance_pending).
    #[arg(long)]
    draft13: bool,
    /// Speak draft 11 (appended metadata URL, `credentials_supported` array,
    /// offers with `credentials` and `user_pin_required`, `user_pin`,
    /// c_nonce in the token response, requests by `format` and
    /// `types`/`vct`/`doctype` with a `proof`, `{format, credential}`
    /// answers, `acceptance_token` deferral).
    #[arg(long, conflicts_with = "draft13")]
    draft11: bool,
    /// Serve https with a fresh self-signed certificate (its PEM is in the
    /// ready line as `certificate_pem`).
    #[arg(long)]
    tls: bool,
    /// Offer no PAR endpoint.
    #[arg(long)]
    no_par: bool,
    /// Accept authorization requests only through PAR.
    #[arg(long)]
    require_par: bool,
    /// Run the authorization server on its own port.
    #[arg(long)]
    separate_authorization_server: bool,
    /// Access token lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    access_token_lifetime: u64,
    /// Require DPoP (RFC 9449, ES256): proofs at the token endpoint (tokens
    /// of `token_type` DPoP bound to the proof key), optional at PAR (binds
    /// the code, as `dpop_jkt` does), and `Authorization: DPoP` plus a proof
    /// with `ath` at the credential, deferred and notification endpoints.
    #[arg(long)]
    require_dpop: bool,
    /// With `--require-dpop`: proofs must carry a server nonce (`DPoP-Nonce`
    /// header; `use_dpop_nonce` otherwise). The AS and the issuer keep
    /// separate nonces and send a fresh one with every answer.
    #[arg(long)]
    dpop_nonce: bool,
    /// Credential request/response encryption (OID4VCI 1.0; JWE ECDH-ES on
    /// P-256, A128GCM/A256GCM): `off` (nothing advertised), `offered`
    /// (advertised, plain requests still accepted) or `required` (every
    /// credential and deferred request must be a JWE and ask for an
    /// encrypted response). Ignored with `--draft13` and `--draft11`.
    #[arg(long, value_enum, default_value_t = EncryptionArg::Off)]
    encryption: EncryptionArg,
    /// Wallet attestation (OAuth 2.0 Attestation-Based Client Authentication,
    /// `attest_jwt_client_auth`) at PAR and the token endpoint: `off`
    /// (headers ignored), `required` (`OAuth-Client-Attestation` and
    /// `OAuth-Client-Attestation-PoP` on every PAR and token request) or
    /// `challenge` (also a single-use `challenge` in the PoP, from the
    /// advertised `challenge_endpoint` or the
    /// `OAuth-Client-Attestation-Challenge` response header). Attestations
    /// of the trusted wallet provider come from `POST /test/wallet-attestation`.
    #[arg(long, value_enum, default_value_t = WalletAttestationArg::Off)]
    wallet_attestation: WalletAttestationArg,
    /// Key attestations (OID4VCI 1.0 appendix D) for key-bound credentials:
    /// `off`, `required` (every key-bound configuration lists
    /// `key_attestations_required`, EU PID style, on its `jwt` and
    /// `attestation` proof types; `jwt` proofs need a `key_attestation`
    /// header of the trusted wallet provider, `attestation` proofs a valid
    /// c_nonce) or `required-with-nonce` (also the `jwt` proofs' key
    /// attestations must carry the proof's c_nonce). Attestations come from
    /// `POST /test/key-attestation {"keys": [jwk], "nonce"}`.
    #[arg(long, value_enum, default_value_t = KeyAttestationArg::Off)]
    key_attestation: KeyAttestationArg,
    /// The same as `--key-attestation required`.
    #[arg(long, conflicts_with = "key_attestation")]
    key_attestations_required: bool,
    /// With key attestations on: list only the `attestation` proof type (the
    /// key attestation is the proof) and refuse `jwt` proofs.
    #[arg(long)]
    attestation_proof_only: bool,
    /// Serve signed metadata (application/jwt on request, signed with the
    /// x5c chain to the test root).
    #[arg(long)]
    signed_metadata: bool,
    /// Let wallets cache the discovery documents for this many seconds
    /// (Cache-Control: max-age, ETag, 304 on If-None-Match).
    #[arg(long)]
    cache_max_age: Option<u64>,
    /// Delay every response by this many milliseconds (a phone's network).
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// How credentials name their signing key: `kid` (a `kid` header, the
    /// key at `/.well-known/jwt-vc-issuer`), `x5c` (an `x5c` header with
    /// the leaf and intermediate certificates; the root CA is
    /// `trust_anchor_pem` in the ready line and `GET /test/trust`), or a DID
    /// as `iss` with a DID URL `kid`: `did-jwk` (`<did>#0`), `did-key`
    /// (`<did>#z...`) or `did-web` (`<did>#key-1`, the DID document at
    /// `/.well-known/did.json` or `<path>/did.json`). The DID is
    /// `credential_issuer_did` in the ready line.
    #[arg(long, value_enum, default_value_t = CredentialSigningArg::Kid)]
    credential_signing: CredentialSigningArg,
    /// The signing key's type in the DID modes: `p256` (ES256, the key at
    /// `/.well-known/jwt-vc-issuer`) or `ed25519` (EdDSA, a fresh key).
    /// `kid` and `x5c` always sign with P-256.
    #[arg(long, value_enum, default_value_t = CredentialKeyArg::P256)]
    credential_key: CredentialKeyArg,
}

/// `--credential-signing`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum CredentialSigningArg {
    Kid,
    X5c,
    DidJwk,
    DidKey,
    DidWeb,
}

impl From<CredentialSigningArg> for CredentialSigning {
    fn from(arg: CredentialSigningArg) -> Self {
        match arg {
            CredentialSigningArg::Kid => CredentialSigning::Kid,
            CredentialSigningArg::X5c => CredentialSigning::X5cChain,
            CredentialSigningArg::DidJwk => CredentialSigning::DidJwk,
            CredentialSigningArg::DidKey => CredentialSigning::DidKey,
            CredentialSigningArg::DidWeb => CredentialSigning::DidWeb,
        }
    }
}

/// `--credential-key`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum CredentialKeyArg {
    #[value(name = "p256")]
    P256,
    #[value(name = "ed25519")]
    Ed25519,
}

impl From<CredentialKeyArg> for CredentialKey {
    fn from(arg: CredentialKeyArg) -> Self {
        match arg {
            CredentialKeyArg::P256 => CredentialKey::P256,
            CredentialKeyArg::Ed25519 => CredentialKey::Ed25519,
        }
    }
}

/// `--wallet-attestation`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum WalletAttestationArg {
    Off,
    Required,
    Challenge,
}

impl From<WalletAttestationArg> for WalletAttestation {
    fn from(arg: WalletAttestationArg) -> Self {
        match arg {
            WalletAttestationArg::Off => WalletAttestation::Off,
            WalletAttestationArg::Required => WalletAttestation::Required,
            WalletAttestationArg::Challenge => WalletAttestation::RequiredWithChallenge,
        }
    }
}

/// `--key-attestation`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum KeyAttestationArg {
    Off,
    Required,
    RequiredWithNonce,
}

impl Args {
    /// `--draft13`, `--draft11`, or 1.0.
    fn spec_version(&self) -> SpecVersion {
        if self.draft11 {
            SpecVersion::Draft11
        } else if self.draft13 {
            SpecVersion::Draft13
        } else {
            SpecVersion::V1
        }
    }

    /// `--key-attestation`, or `required` for `--key-attestations-required`.
    fn key_attestations(&self) -> KeyAttestations {
        if self.key_attestations_required {
            return KeyAttestations::Required;
        }
        match self.key_attestation {
            KeyAttestationArg::Off => KeyAttestations::Off,
            KeyAttestationArg::Required => KeyAttestations::Required,
            KeyAttestationArg::RequiredWithNonce => KeyAttestations::RequiredWithNonce,
        }
    }
}

/// `--encryption`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum EncryptionArg {
    Off,
    Offered,
    Required,
}

impl From<EncryptionArg> for Encryption {
    fn from(arg: EncryptionArg) -> Self {
        match arg {
            EncryptionArg::Off => Encryption::Off,
            EncryptionArg::Offered => Encryption::Offered,
            EncryptionArg::Required => Encryption::Required,
        }
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if args.faults.iter().any(|f| f == "list") {
        for fault in Fault::ALL {
            println!("{}", fault.name());
        }
        return;
    }
    let mut builder = Issuer::builder()
        .path(&args.path)
        .nonce_endpoint(!args.no_nonce_endpoint)
        .credential_identifiers(!args.no_credential_identifiers)
        .deferred_interval(args.deferred_interval)
        .deferred_pending_polls(args.deferred_pending_polls)
        .batch_size((args.batch_size > 0).then_some(args.batch_size))
        .pushed_authorization(!args.no_par)
        .spec_version(args.spec_version())
        .tls(args.tls)
        .require_par(args.require_par)
        .separate_authorization_server(args.separate_authorization_server)
        .require_dpop(args.require_dpop)
        .dpop_nonce(args.dpop_nonce)
        .encryption(args.encryption.into())
        .wallet_attestation(args.wallet_attestation.into())
        .key_attestations(args.key_attestations())
        .attestation_proof_only(args.attestation_proof_only)
        .signed_metadata(args.signed_metadata)
        .latency(std::time::Duration::from_millis(args.latency_ms))
        .credential_signing(args.credential_signing.into())
        .credential_key(args.credential_key.into())
        .access_token_lifetime(std::time::Duration::from_secs(args.access_token_lifetime));
    if let Some(seconds) = args.cache_max_age {
        builder = builder.cache_max_age(seconds);
    }
    for text in &args.responses {
        match serde_json::from_str::<oid4vci_issuer::Canned>(text) {
            Ok(canned) => builder = builder.respond(canned),
            Err(e) => {
                eprintln!("--respond {text}: {e}");
                std::process::exit(2);
            }
        }
    }
    for name in &args.faults {
        match Fault::from_name(name) {
            Some(fault) => builder = builder.fault(fault),
            None => {
                eprintln!("unknown fault {name:?}; `--fault list` prints the names");
                std::process::exit(2);
            }
        }
    }
    let issuer = match builder.spawn(&args.addr).await {
        Ok(issuer) => issuer,
        Err(e) => {
            eprintln!("cannot listen on {}: {e}", args.addr);
            std::process::exit(1);
        }
    };
    let mut stdout = std::io::stdout();
    let ready = serde_json::json!({
        "ready": issuer.base_url(),
        "credential_issuer": issuer.issuer_id(),
        "authorization_server": issuer.authorization_server(),
        "certificate_pem": issuer.certificate_pem(),
        "trust_anchor_pem": issuer.trust_anchor_pem(),
        "credential_issuer_did": issuer.credential_issuer_did(),
    });
    let _ = writeln!(stdout, "{ready}");
    let _ = stdout.flush();
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("oid4vci-issuer").chain(args.iter().copied()))
    }

    #[test]
    fn key_attestation_flags() {
        for (args, mode) in [
            (&[][..], KeyAttestations::Off),
            (&["--key-attestation", "off"][..], KeyAttestations::Off),
            (
                &["--key-attestation", "required"][..],
                KeyAttestations::Required,
            ),
            (
                &["--key-attestation", "required-with-nonce"][..],
                KeyAttestations::RequiredWithNonce,
            ),
            (
                &["--key-attestations-required"][..],
                KeyAttestations::Required,
            ),
        ] {
            assert_eq!(parse(args).unwrap().key_attestations(), mode, "{args:?}");
        }
        assert!(parse(&["--key-attestation", "maybe"]).is_err());
        assert!(parse(&[
            "--key-attestations-required",
            "--key-attestation",
            "required-with-nonce"
        ])
        .is_err());
    }

    #[test]
    fn spec_version_flags() {
        assert_eq!(parse(&[]).unwrap().spec_version(), SpecVersion::V1);
        assert_eq!(
            parse(&["--draft13"]).unwrap().spec_version(),
            SpecVersion::Draft13
        );
        assert_eq!(
            parse(&["--draft11"]).unwrap().spec_version(),
            SpecVersion::Draft11
        );
        assert!(parse(&["--draft11", "--draft13"]).is_err());
    }
}
