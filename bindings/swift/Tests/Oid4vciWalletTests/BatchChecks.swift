// The batch check of the Swift test program (Harness.swift is the harness),
// against the main issuer (batch_size 3): `Wallet.receive` with a Swift
// `KeySource` (a fresh SwiftSigner per credential), an `Interaction` that
// types the transaction code and a `ProgressObserver` that hears each stage;
// three credentials, each bound to its own key, and the stages in order.

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Oid4vciWallet

/// Fresh Swift keys, remembering each it made.
final class BatchKeys: KeySource, @unchecked Sendable {
    private let lock = NSLock()
    private var keys: [SwiftSigner] = []
    var made: [SwiftSigner] { lock.lock(); defer { lock.unlock() }; return keys }

    func newKey() throws -> Signer {
        let signer = try SwiftSigner()
        lock.lock(); keys.append(signer); lock.unlock()
        return signer
    }
}

/// Records the stages it hears.
final class BatchStageLog: ProgressObserver, @unchecked Sendable {
    private let lock = NSLock()
    private var list: [ReceiveStage] = []
    var stages: [ReceiveStage] { lock.lock(); defer { lock.unlock() }; return list }

    func onStage(stage: ReceiveStage) { lock.lock(); list.append(stage); lock.unlock() }
}

/// Types the offer's transaction code; no browser.
final class BatchTypist: Interaction, @unchecked Sendable {
    let code: String?
    init(_ code: String?) { self.code = code }

    func txCode(info: TxCodeInfo) throws -> String {
        guard let code else { throw WalletError.Cancelled }
        return code
    }
    func redirectUri() -> String? { nil }
    func authorize(authorizationUrl: String) throws -> String { throw WalletError.Cancelled }
}

@MainActor
func batchChecks(_ wallet: Wallet) async {
    await check("receive: a batch of 3, each bound to its own fresh Swift key, with progress") {
        let offer = try await createOffer(txCode: true, byReference: true)
        let keys = BatchKeys()
        let log = BatchStageLog()
        let result = try await wallet.receive(offerUrl: offer.url, keys: keys, options: ReceiveOptions(),
                                              interaction: BatchTypist(offer.txCode), progress: log)
        try expect(result.credentials.count == 3, "expected 3 credentials, got \(result.credentials.count)")
        try expect(keys.made.count == 3, "expected 3 keys made, got \(keys.made.count)")
        let bound = try result.credentials.map { try jsonObject($0.holderJwk ?? "null")["x"] as? String ?? "" }
        try expect(Set(bound) == Set(keys.made.map { $0.x }), "bound to \(bound), made \(keys.made.map { $0.x })")
        try expect(keys.made.allSatisfy { $0.calls.value >= 1 }, "a key signed no proof")
        try expect(result.credentials.allSatisfy { $0.configurationId == "pid_sd_jwt" && $0.signatureVerified },
                   "credentials \(result.credentials.map { $0.configurationId })")
        let kinds: [String] = log.stages.map {
            switch $0 {
            case .resolvingOffer: return "offer"
            case .readingMetadata: return "metadata"
            case .waitingForTxCode: return "tx_code"
            case .waitingForBrowser: return "browser"
            case .token: return "token"
            case .credential(_, let index, let total, let batchSize): return "credential \(index)/\(total) x\(batchSize)"
            case .deferred: return "deferred"
            case .done(let credentials): return "done \(credentials)"
            }
        }
        try expect(kinds == ["offer", "metadata", "tx_code", "token", "credential 1/1 x3", "done 3"], "stages \(kinds)")
        guard let id = result.credentials[0].notificationId else { throw CheckFailed("no notification_id") }
        try await result.session.notify(wallet: wallet, notificationId: id, event: .credentialAccepted)
    }
}
