// The Wallet Attestation (attestation-based client authentication) checks of
// the Swift test program (Harness.swift is the harness):
// `Wallet.withAttestation` with a Swift platform key, through the built-in
// client and a Swift HttpClient, and what is refused (no attestation,
// another key, another client_id, not a JWT, expired).
//
// Issuer (skipped without it):
//   OID4VCI_ISSUER_ATTESTATION=<url>   an issuer run with --wallet-attestation challenge
//                                      --require-dpop --dpop-nonce

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Oid4vciWallet

@MainActor
func walletAttestationChecks() async {
    let attestedPreAuthorized = "wallet attestation with challenges and DPoP nonces: pre-authorized issuance, Swift platform key"
    let attestedCodeFlow = "wallet attestation: authorization code flow with PAR through a Swift HttpClient, sign in as max"
    let attestationRefusals = "wallet attestation: without it Server(invalid_client); another key, another client_id, "
        + "not a JWT, expired: Configuration"
    if let attestationBase = environment["OID4VCI_ISSUER_ATTESTATION"].map(trimmed) {
        await check(attestedPreAuthorized) {
            let before = try await issuerStats(attestationBase)
            // The app instance's key (the Secure Enclave in an app) and the attestation its wallet provider issues for it.
            let platformKey = try SwiftSigner()
            let attestation = try await walletAttestation(attestationBase, clientId: "swift-wallet", jwk: platformKey.publicJwk())
            let attested = try newAttestedWallet(config: config(), attestationJwt: attestation, signer: platformKey)
            try expect(attested.clientId() == "swift-wallet", "client_id \(attested.clientId() ?? "none")")
            let offer = try await createOffer(txCode: true, issuer: attestationBase)
            let session = try await attested.resolveOffer(offerUrl: offer.url).authorize(wallet: attested, txCode: offer.txCode)
            let usesDpop = await session.usesDpop()
            try expect(usesDpop, "the session does not use DPoP")
            try expect(platformKey.calls.value >= 1, "the platform key signed no proof of possession")
            let holder = try SwiftSigner()
            try expectPid(try issued(try await session.requestCredential(wallet: attested, configurationId: "pid_sd_jwt", signer: holder)), holder)
            let after = try await issuerStats(attestationBase)
            func delta(_ name: String) -> Int { (after[name] ?? 0) - (before[name] ?? 0) }
            try expect(delta("attestation_rejected") == 0, "the issuer rejected the attestation: \(after)")
            try expect(delta("attestation_challenges_issued") >= 1, "no attestation challenge issued: \(after)")
            try expect(delta("dpop_rejected") == 0, "the issuer rejected DPoP proofs: \(after)")
            try expect(delta("/token") >= 1 && delta("/credential") == 1, "requests: \(after)")
        }

        await check(attestedCodeFlow) {
            let before = try await issuerStats(attestationBase)
            let platformKey = try SwiftSigner()
            let attestation = try await walletAttestation(attestationBase, clientId: "swift-wallet", jwk: platformKey.publicJwk())
            let client = SwiftHttpClient()
            let attested = try Wallet.withHttpClientAndAttestation(config: config(), httpClient: client,
                                                                   attestationJwt: attestation, signer: platformKey)
            let offer = try await createOffer(authorizationCode: true, issuer: attestationBase)
            let pending = try await attested.resolveOffer(offerUrl: offer.url).beginAuthorization(wallet: attested, redirectUri: redirectUri)
            let url = pending.authorizationUrl()
            try expect(queryParameter(url, "client_id") == "swift-wallet", "client_id in \(url)")
            try expect(queryParameter(url, "request_uri")?.hasPrefix("urn:ietf:params:oauth:request_uri:") == true, "no PAR: \(url)")
            let location = try await browser.authorize(url, user: "max", password: "max-password", allow: true)
            let session = try await pending.complete(wallet: attested, redirectUrl: location)
            let holder = try SwiftSigner()
            let credentials = try issued(try await session.requestCredential(wallet: attested, configurationId: "pid_sd_jwt", signer: holder))
            try expectClaim(credentials, "pid_sd_jwt", "given_name", "Max", holder)
            let attestedPaths = client.attestedPaths.all
            for path in ["/par", "/token"] {
                try expect(attestedPaths.contains(path), "no attested \(path) request: attested \(attestedPaths)")
            }
            try expect(!attestedPaths.contains("/credential"), "the attestation went to the credential endpoint")
            let after = try await issuerStats(attestationBase)
            func delta(_ name: String) -> Int { (after[name] ?? 0) - (before[name] ?? 0) }
            try expect(delta("attestation_rejected") == 0, "the issuer rejected the attestation: \(after)")
            try expect(delta("attestation_challenges_issued") >= 1, "no attestation challenge issued: \(after)")
        }

        await check(attestationRefusals) {
            // No attestation: the AS refuses the client.
            let anonymous = try newWallet(config: config())
            let offer = try await createOffer(txCode: true, issuer: attestationBase)
            let resolved = try await anonymous.resolveOffer(offerUrl: offer.url)
            try await expectError("Server invalid_client", { try await resolved.authorize(wallet: anonymous, txCode: offer.txCode) }) {
                if case .Server(let code, _, let status, _) = $0 { return code == "invalid_client" && status == 400 }
                return false
            }
            // Refused locally, when the wallet is built.
            let platformKey = try SwiftSigner()
            let attestation = try await walletAttestation(attestationBase, clientId: "swift-wallet", jwk: platformKey.publicJwk())
            try await expectError("Configuration naming cnf.jwk", {
                try newAttestedWallet(config: config(), attestationJwt: attestation, signer: try SwiftSigner())
            }) {
                if case .Configuration(let details) = $0 { return details.contains("cnf.jwk") }
                return false
            }
            try await expectError("Configuration", {
                try Wallet.withHttpClientAndAttestation(config: config(), httpClient: SwiftHttpClient(),
                                                        attestationJwt: attestation, signer: try SwiftSigner())
            }) {
                if case .Configuration = $0 { return true }
                return false
            }
            try await expectError("Configuration naming client_id", {
                try newAttestedWallet(config: codeFlowConfig(), attestationJwt: attestation, signer: platformKey)
            }) {
                if case .Configuration(let details) = $0 { return details.contains("client_id") }
                return false
            }
            try await expectError("Configuration", {
                try newAttestedWallet(config: config(), attestationJwt: "not.a.jwt", signer: platformKey)
            }) {
                if case .Configuration = $0 { return true }
                return false
            }
            // Expired: refused before anything is sent; the app fetches a fresh one.
            let expiredAttestation = try await walletAttestation(attestationBase, clientId: "swift-wallet",
                                                                  jwk: platformKey.publicJwk(), lifetimeSecs: 0)
            let expired = try newAttestedWallet(config: config(), attestationJwt: expiredAttestation, signer: platformKey)
            let stale = try await expired.resolveOffer(offerUrl: try await createOffer(issuer: attestationBase).url)
            let tokens = try await issuerStats(attestationBase)["/token"] ?? 0
            try await expectError("Configuration naming expired", { try await stale.authorize(wallet: expired, txCode: nil) }) {
                if case .Configuration(let details) = $0 { return details.contains("expired") }
                return false
            }
            let tokensAfter = try await issuerStats(attestationBase)["/token"] ?? 0
            try expect(tokensAfter == tokens, "a token request was sent")
        }
    } else {
        for name in [attestedPreAuthorized, attestedCodeFlow, attestationRefusals] {
            skip(name, "OID4VCI_ISSUER_ATTESTATION not set")
        }
    }
}
