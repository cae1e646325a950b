// The DPoP (RFC 9449) checks of the Swift test program (Harness.swift is the
// harness): the SDK's own DPoP key kept in saved sessions and pending
// authorizations, use_dpop_nonce challenges answered (the app's own DPoP
// keys are DpopKeyChecks.swift).
//
// Issuer (skipped without it):
//   OID4VCI_ISSUER_DPOP=<url>   an issuer run with --require-dpop --dpop-nonce

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Oid4vciWallet

@MainActor
func dpopChecks() async {
    let dpopPreAuthorized = "pre-authorized with tx_code over DPoP with nonces: session saved and restored, Swift signer"
    let dpopCodeFlow = "authorization code flow over DPoP: pending authorization saved and restored, sign in as max"
    if let dpopBase = environment["OID4VCI_ISSUER_DPOP"].map(trimmed) {
        await check(dpopPreAuthorized) {
            let before = try await issuerStats(dpopBase)
            let offer = try await createOffer(txCode: true, issuer: dpopBase)
            let dpopWallet = try newWallet(config: config())
            let resolved = try await dpopWallet.resolveOffer(offerUrl: offer.url)
            try expect(resolved.issuerId() == dpopBase, "issuer \(resolved.issuerId())")
            var session: AuthorizedSession? = try await resolved.authorize(wallet: dpopWallet, txCode: offer.txCode)
            let usesDpop = await session!.usesDpop()
            try expect(usesDpop, "the session does not use DPoP")
            // The app saves the session (with its DPoP key) and is killed before the credential request.
            let saved = try await session!.toJson()
            session = nil
            let restored = try AuthorizedSession.fromJson(json: saved, locales: locales)
            let restoredUsesDpop = await restored.usesDpop()
            try expect(restoredUsesDpop, "the restored session does not use DPoP")
            let freshWallet = try newWallet(config: config())
            let signer = try SwiftSigner()
            try expectPid(try issued(try await restored.requestCredential(wallet: freshWallet, configurationId: "pid_sd_jwt", signer: signer)), signer)
            let after = try await issuerStats(dpopBase)
            func delta(_ name: String) -> Int { (after[name] ?? 0) - (before[name] ?? 0) }
            try expect(delta("dpop_nonce_challenges_as") >= 1, "no use_dpop_nonce from the AS: \(after)")
            try expect(delta("dpop_rejected") == 0, "the issuer rejected DPoP proofs: \(after)")
            try expect(delta("/credential") == 1, "credential requests: \(delta("/credential")) (\(after))")
        }

        await check(dpopCodeFlow) {
            let codeWallet = try newWallet(config: codeFlowConfig())
            let offer = try await createOffer(authorizationCode: true, issuer: dpopBase)
            var pending: PendingAuthorization? = try await codeWallet.resolveOffer(offerUrl: offer.url)
                .beginAuthorization(wallet: codeWallet, redirectUri: redirectUri)
            try expect(pending!.usesDpop(), "the pending authorization does not use DPoP")
            let saved = try pending!.toJson()
            pending = nil
            let restored = try PendingAuthorization.fromJson(json: saved, locales: locales)
            try expect(restored.usesDpop(), "the restored authorization does not use DPoP")
            let location = try await browser.authorize(restored.authorizationUrl(), user: "max", password: "max-password", allow: true)
            let session = try await restored.complete(wallet: try newWallet(config: codeFlowConfig()), redirectUrl: location)
            let usesDpop = await session.usesDpop()
            try expect(usesDpop, "the session does not use DPoP")
            let signer = try SwiftSigner()
            let credentials = try issued(try await session.requestCredential(wallet: codeWallet, configurationId: "pid_sd_jwt", signer: signer))
            try expectClaim(credentials, "pid_sd_jwt", "given_name", "Max", signer)
        }
    } else {
        skip(dpopPreAuthorized, "OID4VCI_ISSUER_DPOP not set")
        skip(dpopCodeFlow, "OID4VCI_ISSUER_DPOP not set")
    }
}
