// The checks of DPoP keys held by the app, in the Swift test program
// (Harness.swift is the harness: the runner, the signer, the issuer's test
// endpoints): a wallet from `WalletBuilder(config:).dpopKeys(store:)` signs
// every DPoP proof of a session with a key of the app's `DpopKeyStore` (here
// an in-memory map of `SoftwareSigner`s; an iOS app keeps them in the Secure
// Enclave), the saved session holds only the key's reference and public key,
// and a restored session needs a wallet with that store.
//
// Issuer (skipped without it):
//   OID4VCI_ISSUER_DPOP=<url>  an issuer run with --require-dpop --dpop-nonce

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Oid4vciWallet

/// The app's DPoP key store as a Swift `DpopKeyStore`: fresh `SoftwareSigner`
/// keys in a map under references of its own (an app would create Secure
/// Enclave keys under these tags), and a record of what the SDK asked for
/// (locked: the SDK calls it on its own threads).
final class SwiftDpopKeys: DpopKeyStore, @unchecked Sendable {
    private let lock = NSLock()
    private var keys: [String: SoftwareSigner] = [:]
    private var createCalls = 0
    private var lookedUp: [String] = []

    var created: Int { lock.lock(); defer { lock.unlock() }; return createCalls }
    var lookups: [String] { lock.lock(); defer { lock.unlock() }; return lookedUp }
    var references: [String] { lock.lock(); defer { lock.unlock() }; return Array(keys.keys) }
    func key(_ reference: String) -> SoftwareSigner? { lock.lock(); defer { lock.unlock() }; return keys[reference] }

    func createKey() throws -> String {
        lock.lock(); defer { lock.unlock() }
        createCalls += 1
        let reference = "swift-dpop-key-\(createCalls)-\(UUID().uuidString)"
        keys[reference] = SoftwareSigner.generate()
        return reference
    }

    func signer(reference: String) throws -> Signer {
        lock.lock(); defer { lock.unlock() }
        lookedUp.append(reference)
        guard let key = keys[reference] else { throw WalletError.Signing(details: "no DPoP key under \(reference)") }
        return key
    }
}

@MainActor
func dpopKeyChecks() async {
    let appKeys = "DPoP keys of the app: WalletBuilder.dpopKeys with a Swift store, session saved with the reference "
        + "and restored; without the store InvalidState(dpop_keys)"
    guard let dpopBase = environment["OID4VCI_ISSUER_DPOP"].map(trimmed) else {
        skip(appKeys, "OID4VCI_ISSUER_DPOP not set")
        return
    }

    await check(appKeys) {
        let before = try await issuerStats(dpopBase)
        let store = SwiftDpopKeys()
        let wallet = try newBuilder(config: config()).dpopKeys(store: store).build()
        let offer = try await createOffer(txCode: true, issuer: dpopBase)
        var session: AuthorizedSession? = try await wallet.resolveOffer(offerUrl: offer.url)
            .authorize(wallet: wallet, txCode: offer.txCode)
        let usesDpop = await session!.usesDpop()
        try expect(usesDpop, "the session does not use DPoP")
        try expect(store.created == 1, "createKey called \(store.created) times")
        guard store.references.count == 1, let reference = store.references.first,
              let key = store.key(reference) else { throw CheckFailed("store keys \(store.references)") }
        guard let publicX = try jsonObject(key.publicJwk())["x"] as? String else { throw CheckFailed("no x") }

        // The app saves the session and is killed before the credential request.
        let saved = try await session!.toJson()
        session = nil
        try expect(saved.contains("\"\(reference)\""), "the saved session does not name the key's reference: \(saved)")
        try expect(saved.contains("\"\(publicX)\""), "the saved session does not hold the app key's public key")
        try expect(!saved.contains("\"d\""), "the saved session holds a private key (\"d\")")

        // Restored into a wallet without the store: the SDK cannot sign DPoP proofs.
        let withoutStore = try AuthorizedSession.fromJson(json: saved, locales: locales)
        let restoredUsesDpop = await withoutStore.usesDpop()
        try expect(restoredUsesDpop, "the restored session does not use DPoP")
        let plain = try newWallet(config: config())
        let error = try await expectError("InvalidState", {
            try await withoutStore.requestCredential(wallet: plain, configurationId: "pid_sd_jwt", signer: try SwiftSigner())
        }) {
            if case .InvalidState = $0 { return true }
            return false
        }
        guard case .InvalidState(let details) = error else { throw CheckFailed("expected InvalidState, got \(error)") }
        try expect(details.contains("dpop_keys"), "details: \(details)")

        // Restored into a new wallet with the same store: request and notify.
        let restored = try AuthorizedSession.fromJson(json: saved, locales: locales)
        let sameStore = try newBuilder(config: config()).dpopKeys(store: store).build()
        let signer = try SwiftSigner()
        let credentials = try issued(try await restored.requestCredential(wallet: sameStore, configurationId: "pid_sd_jwt", signer: signer))
        try expectPid(credentials, signer)
        guard let notificationId = credentials[0].notificationId else { throw CheckFailed("no notificationId") }
        try await restored.notify(wallet: sameStore, notificationId: notificationId, event: .credentialAccepted)

        try expect(store.created == 1, "createKey called \(store.created) times")
        let lookups = store.lookups
        try expect(lookups.count >= 2 && lookups.allSatisfy { $0 == reference }, "signer lookups \(lookups) (key \(reference))")
        let after = try await issuerStats(dpopBase)
        func delta(_ name: String) -> Int { (after[name] ?? 0) - (before[name] ?? 0) }
        try expect(delta("dpop_nonce_challenges_as") >= 1, "no use_dpop_nonce from the AS: \(after)")
        try expect(delta("dpop_rejected") == 0, "the issuer rejected DPoP proofs: \(after)")
        try expect(delta("/credential") == 1, "credential requests: \(delta("/credential")) (\(after))")
        try expect(delta("/notification") == 1, "notifications: \(delta("/notification")) (\(after))")
    }
}
