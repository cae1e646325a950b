// The deferred issuance check of the Swift test program (Harness.swift is the
// harness), against the main issuer (deferred polls: pending twice, interval
// 1 s): a deferred credential polled once (pending), then until ready.

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Oid4vciWallet

@MainActor
func deferredChecks(_ wallet: Wallet) async {
    await check("deferred issuance: poll, then poll until ready") {
        let offer = try await createOffer(deferred: true)
        let session = try await wallet.resolveOffer(offerUrl: offer.url).authorize(wallet: wallet, txCode: nil)
        let signer = try SwiftSigner()
        let pending = try deferred(try await session.requestCredential(wallet: wallet, configurationId: "pid_sd_jwt", signer: signer))
        let interval = await pending.intervalMs()
        try expect(interval > 0, "interval \(interval)")
        switch try await pending.poll(wallet: wallet) {
        case .pending(let intervalMs): try expect(intervalMs > 0, "pending interval \(intervalMs)")
        case .issued: throw CheckFailed("issued on the first poll; the issuer answers pending first")
        }
        try expectPid(try await pending.pollUntilReady(wallet: wallet, deadlineMs: 30_000), signer)
    }
}
