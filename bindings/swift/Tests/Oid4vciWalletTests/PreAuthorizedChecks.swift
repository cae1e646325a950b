// The pre-authorized code checks of the Swift test program (Harness.swift is
// the harness: the runner, the signer, the issuer's test endpoints), against
// the main issuer with the wallet WalletTests.swift shares among the first
// flows: an offer with a tx_code resolved (grants, tx_code spec, German
// display names), authorized and issued to the Swift signer (claims, holder
// key binding, the signing input), notified, its pre-authorized code single
// use; and a signer that returns DER, as `SecKeyCreateSignature` does.

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Oid4vciWallet

@MainActor
func preAuthorizedChecks(_ wallet: Wallet) async {
    await check("pre-authorized with tx_code, Swift signer, display in de") {
        let offer = try await createOffer(txCode: true)
        let resolved = try await wallet.resolveOffer(offerUrl: offer.url)
        try expect(resolved.issuerId() == base, "issuer \(resolved.issuerId())")
        try expect(resolved.grants() == [.preAuthorized], "grants \(resolved.grants())")
        guard let txCode = resolved.txCodeSpec() else { throw CheckFailed("no tx_code spec") }
        try expect(txCode.inputMode == .numeric && txCode.length == 6, "tx_code spec \(txCode)")
        let offered = resolved.credentials()
        try expect(offered.count == 1 && offered[0].configurationId == "pid_sd_jwt", "offered \(offered)")
        try expect(offered[0].display?.name == "Personalausweis", "display \(String(describing: offered[0].display))")
        let session = try await resolved.authorize(wallet: wallet, txCode: offer.txCode)
        let ids = await session.credentialConfigurationIds()
        try expect(ids.contains("pid_sd_jwt"), "ids \(ids)")
        let usesDpop = await session.usesDpop()
        try expect(!usesDpop, "DPoP with an issuer that does not offer it")
        let signer = try SwiftSigner()
        let credentials = try issued(try await session.requestCredential(wallet: wallet, configurationId: "pid_sd_jwt", signer: signer))
        try expectPid(credentials, signer)
        try expect(signer.calls.lastSize > 32, "the signer got \(signer.calls.lastSize) bytes, not the signing input")
        if let notificationId = credentials[0].notificationId {
            try await session.notify(wallet: wallet, notificationId: notificationId, event: .credentialAccepted)
        }
        // The pre-authorized code is single use.
        try await expectError("InvalidState", { try await resolved.authorize(wallet: wallet, txCode: offer.txCode) }) {
            if case .InvalidState(let details) = $0 { return details.contains("already") }
            return false
        }
    }

    await check("signer that returns DER, like SecKeyCreateSignature") {
        let offer = try await createOffer()
        let session = try await wallet.resolveOffer(offerUrl: offer.url).authorize(wallet: wallet, txCode: nil)
        let signer = try SwiftSigner(der: true)
        try expectPid(try issued(try await session.requestCredential(wallet: wallet, configurationId: "pid_sd_jwt", signer: signer)), signer)
    }
}
