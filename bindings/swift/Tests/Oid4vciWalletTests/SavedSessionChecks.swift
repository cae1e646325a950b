// The save-and-restore checks of the Swift test program (Harness.swift is the
// harness), against the main issuer: an authorized session and a deferred
// transaction saved with `toJson()`, restored with `fromJson(json:locales:)`
// and finished in a fresh Wallet (the resolved-offer variant is in
// ResumeChecks.swift).

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Oid4vciWallet

@MainActor
func savedSessionChecks(_ wallet: Wallet) async {
    await check("save an authorized session, restore it in a fresh Wallet, finish it") {
        let offer = try await createOffer(txCode: true)
        let saved = try await wallet.resolveOffer(offerUrl: offer.url).authorize(wallet: wallet, txCode: offer.txCode).toJson()
        try expect(saved.contains("pid_sd_jwt"), "saved session: no configuration id")
        let freshWallet = try newWallet(config: config())
        let restored = try AuthorizedSession.fromJson(json: saved, locales: locales)
        let issuer = await restored.issuerId()
        try expect(issuer == base, "restored issuer \(issuer)")
        let signer = try SwiftSigner()
        try expectPid(try issued(try await restored.requestCredential(wallet: freshWallet, configurationId: "pid_sd_jwt", signer: signer)), signer)
        try await expectError("InvalidState", { try AuthorizedSession.fromJson(json: "{not json", locales: locales) }) {
            if case .InvalidState = $0 { return true }
            return false
        }
    }

    await check("save a deferred transaction, restore it in a fresh Wallet, finish it") {
        let offer = try await createOffer(deferred: true)
        let session = try await wallet.resolveOffer(offerUrl: offer.url).authorize(wallet: wallet, txCode: nil)
        let signer = try SwiftSigner()
        let saved = try await deferred(try await session.requestCredential(wallet: wallet, configurationId: "pid_sd_jwt", signer: signer)).toJson()
        let freshWallet = try newWallet(config: config())
        let restored = try DeferredCredential.fromJson(json: saved, locales: locales)
        try expectPid(try await restored.pollUntilReady(wallet: freshWallet, deadlineMs: 30_000), signer)
    }
}
