// The checks of resuming after the app was killed, in the Swift test program
// (Harness.swift is the harness: the runner, the signer, the issuer's test
// endpoints): an offer by reference is single use, so the resolved offer is
// saved with `ResolvedOffer.toJson()` (on the PIN screen, or before the
// browser), the Wallet and every object are dropped, and a new Wallet
// finishes the issuance from `ResolvedOffer.fromJson(json:locales:)`,
// which makes no request: the issuer's /test/stats shows the offer fetched
// once. What is not a saved state throws WalletError.InvalidState naming
// what is wrong.

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Oid4vciWallet

/// The issuer's path of an offer by reference (`/offers/<id>`), from its offer URL.
func offerPath(_ offerUrl: String) throws -> String {
    guard let range = offerUrl.range(of: "credential_offer_uri="),
          let uri = String(offerUrl[range.upperBound...]).removingPercentEncoding,
          let path = URL(string: uri)?.path, !path.isEmpty
    else { throw CheckFailed("not an offer by reference: \(offerUrl)") }
    return path
}

@MainActor
func resumeChecks() async {
    await check("resume on the PIN screen: an offer by reference with a tx_code saved (toJson), the Wallet dropped, "
        + "restored (fromJson) in a new Wallet and issued; the offer fetched once") {
        let offer = try await createOffer(txCode: true, byReference: true)
        let path = try offerPath(offer.url)
        var firstWallet: Wallet? = try newWallet(config: config())
        var resolved: ResolvedOffer? = try await firstWallet!.resolveOffer(offerUrl: offer.url)
        try expect(resolved!.txCodeSpec() != nil, "no tx_code spec")
        // The PIN screen is shown: the app saves the offer, and is killed.
        let saved = try await resolved!.toJson()
        resolved = nil
        firstWallet = nil
        let fetched = try await issuerStats()[path]
        try expect(fetched == 1, "offer fetched \(String(describing: fetched)) times")

        let before = try await issuerRequestCount()
        let restored = try ResolvedOffer.fromJson(json: saved, locales: locales)
        let after = try await issuerRequestCount()
        try expect(after == before, "restoring the offer made a request")
        try expect(restored.issuerId() == base, "restored issuer \(restored.issuerId())")
        guard let txCode = restored.txCodeSpec() else { throw CheckFailed("the restored offer has no tx_code spec") }
        try expect(txCode.length == 6, "tx_code spec \(txCode)")
        let offered = restored.credentials()
        try expect(offered.count == 1 && offered[0].display?.name == "Personalausweis", "offered \(offered)")

        // The user types the code in the restarted app.
        let wallet = try newWallet(config: config())
        let session = try await restored.authorize(wallet: wallet, txCode: offer.txCode)
        let signer = try SwiftSigner()
        try expectPid(try issued(try await session.requestCredential(wallet: wallet, configurationId: "pid_sd_jwt", signer: signer)), signer)
        let stats = try await issuerStats()
        try expect(stats[path] == 1, "offer fetched \(String(describing: stats[path])) times: \(stats)")
        // Spent: the offer is not saved again (the session is what to save now).
        try await expectError("InvalidState (already authorized)", { try await restored.toJson() }) {
            if case .InvalidState(let details) = $0 { return details.contains("already authorized") }
            return false
        }
    }

    await check("resume before the browser: an authorization-code offer by reference saved, restored in a new Wallet, "
        + "signed in as erika; the offer fetched once") {
        let offer = try await createOffer(byReference: true, authorizationCode: true)
        let path = try offerPath(offer.url)
        var firstWallet: Wallet? = try newWallet(config: codeFlowConfig())
        var resolved: ResolvedOffer? = try await firstWallet!.resolveOffer(offerUrl: offer.url)
        let saved = try await resolved!.toJson()
        resolved = nil
        firstWallet = nil

        let wallet = try newWallet(config: codeFlowConfig())
        let restored = try ResolvedOffer.fromJson(json: saved, locales: locales)
        let pending = try await restored.beginAuthorization(wallet: wallet, redirectUri: redirectUri)
        let location = try await browser.authorize(pending.authorizationUrl(), user: "erika", password: "erika-password", allow: true)
        let session = try await pending.complete(wallet: wallet, redirectUrl: location)
        let signer = try SwiftSigner()
        try expectPid(try issued(try await session.requestCredential(wallet: wallet, configurationId: "pid_sd_jwt", signer: signer)), signer)
        let stats = try await issuerStats()
        try expect(stats[path] == 1, "offer fetched \(String(describing: stats[path])) times: \(stats)")
    }

    await check("what is not a saved state throws InvalidState naming it: garbage, another state's JSON, a newer format") {
        let restorers: [(String, (String) throws -> Void)] = [
            ("resolved offer", { _ = try ResolvedOffer.fromJson(json: $0, locales: locales) }),
            ("pending authorization", { _ = try PendingAuthorization.fromJson(json: $0, locales: locales) }),
            ("authorized session", { _ = try AuthorizedSession.fromJson(json: $0, locales: locales) }),
            ("deferred transaction", { _ = try DeferredCredential.fromJson(json: $0, locales: locales) }),
        ]
        for (name, restore) in restorers {
            for json in ["", "{not json", "{}", "[]", "null", #"{"saved_state":"nonsense","saved_version":1}"#] {
                try await expectError("InvalidState naming the saved \(name) for \(json)", { try restore(json) }) {
                    if case .InvalidState(let details) = $0 { return details.contains("saved \(name)") }
                    return false
                }
            }
        }
        let wallet = try newWallet(config: config())
        let saved = try await wallet.resolveOffer(offerUrl: try await createOffer().url).toJson()
        for (name, restore) in restorers.dropFirst() {
            try await expectError("InvalidState: a saved offer is no \(name)", { try restore(saved) }) {
                if case .InvalidState(let details) = $0 { return details.contains("this is a saved resolved offer") }
                return false
            }
        }
        let newer = saved.replacingOccurrences(of: #""saved_version":1"#, with: #""saved_version":2"#)
        try expect(newer != saved, "no saved_version in \(saved)")
        try await expectError("InvalidState (a newer format)", { try ResolvedOffer.fromJson(json: newer, locales: locales) }) {
            if case .InvalidState(let details) = $0 { return details.contains("newer") }
            return false
        }
    }
}
