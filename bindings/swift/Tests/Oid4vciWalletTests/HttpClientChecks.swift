// The app's HTTP stack check of the Swift test program (Harness.swift is the
// harness): a full issuance from the main issuer through `SwiftHttpClient`
// (URLSession, no redirects, `Wallet.withHttpClient`), which must carry every
// request the issuer sees.

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Oid4vciWallet

@MainActor
func httpClientChecks() async {
    await check("full issuance through a Swift HttpClient (URLSession, no redirects)") {
        let client = SwiftHttpClient()
        let appWallet = try Wallet.withHttpClient(config: config(), httpClient: client)
        let before = try await issuerRequestCount()
        let offer = try await createOffer(txCode: true, byReference: true)
        let resolved = try await appWallet.resolveOffer(offerUrl: offer.url)
        try expect(resolved.credentials().first?.display?.name == "Personalausweis", "display")
        let session = try await resolved.authorize(wallet: appWallet, txCode: offer.txCode)
        let signer = try SwiftSigner()
        try expectPid(try issued(try await session.requestCredential(wallet: appWallet, configurationId: "pid_sd_jwt", signer: signer)), signer)
        let seen = try await issuerRequestCount() - before
        try expect(client.requests.value >= 4, "only \(client.requests.value) requests went through the Swift client")
        try expect(seen == client.requests.value, "the issuer saw \(seen) requests, the Swift client sent \(client.requests.value)")
    }
}
