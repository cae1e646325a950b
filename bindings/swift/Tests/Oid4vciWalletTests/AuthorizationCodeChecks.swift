// The authorization code checks of the Swift test program (Harness.swift is
// the harness), against the main issuer (users max and erika, signing in
// through the harness's Browser): from an offer (PAR, the pending
// authorization saved before the browser and restored in a fresh Wallet) and
// wallet-initiated through a Swift HttpClient; consent denied, a tampered
// state and a redirect completed twice throw typed errors.

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Oid4vciWallet

@MainActor
func authorizationCodeChecks() async {
    await check("authorization code flow from an offer: save, restore, sign in as max, Swift signer") {
        let offer = try await createOffer(authorizationCode: true)
        try expect(offer.txCode == nil, "tx_code \(offer.txCode ?? "")")
        let codeWallet = try newWallet(config: codeFlowConfig())
        let resolved = try await codeWallet.resolveOffer(offerUrl: offer.url)
        try expect(resolved.grants() == [.authorizationCode], "grants \(resolved.grants())")
        try expect(resolved.txCodeSpec() == nil, "tx_code spec \(String(describing: resolved.txCodeSpec()))")
        var pending: PendingAuthorization? = try await resolved.beginAuthorization(wallet: codeWallet, redirectUri: redirectUri)
        try expect(!pending!.usesDpop(), "DPoP with an issuer that does not offer it")
        let url = pending!.authorizationUrl()
        // PAR: the URL carries only client_id and request_uri.
        try expect(url.hasPrefix("\(base)/authorize?"), "authorization URL \(url)")
        try expect(queryParameter(url, "client_id") == "swift-wallet-test", "client_id in \(url)")
        try expect(queryParameter(url, "request_uri")?.hasPrefix("urn:ietf:params:oauth:request_uri:") == true,
                   "request_uri in \(url)")
        // The app saves it before opening the browser and is killed meanwhile.
        let saved = try pending!.toJson()
        pending = nil
        let location = try await browser.authorize(url, user: "max", password: "max-password", allow: true)
        try expect(location.hasPrefix("\(redirectUri)?"), "redirect \(location)")
        try expect(queryParameter(location, "code") != nil && queryParameter(location, "iss") == base, "redirect \(location)")
        // Restarted: a fresh Wallet and the restored authorization.
        let freshWallet = try newWallet(config: codeFlowConfig())
        let restored = try PendingAuthorization.fromJson(json: saved, locales: locales)
        try expect(restored.authorizationUrl() == url, "restored URL \(restored.authorizationUrl())")
        try expect(restored.redirectUri() == redirectUri, "restored redirect URI \(restored.redirectUri())")
        try expect(restored.issuerId() == base, "restored issuer \(restored.issuerId())")
        try expect(restored.credentialConfigurationIds() == ["pid_sd_jwt"], "ids \(restored.credentialConfigurationIds())")
        let session = try await restored.complete(wallet: freshWallet, redirectUrl: location)
        let ids = await session.credentialConfigurationIds()
        try expect(ids.contains("pid_sd_jwt"), "ids \(ids)")
        let signer = try SwiftSigner()
        let credentials = try issued(try await session.requestCredential(wallet: freshWallet, configurationId: "pid_sd_jwt", signer: signer))
        try expectClaim(credentials, "pid_sd_jwt", "given_name", "Max", signer)
        try expectClaim(credentials, "pid_sd_jwt", "family_name", "Meier", signer)
        try await expectError("InvalidState", { try PendingAuthorization.fromJson(json: "{not json", locales: locales) }) {
            if case .InvalidState = $0 { return true }
            return false
        }
    }

    await check("wallet-initiated authorization code flow through a Swift HttpClient, sign in as erika") {
        let client = SwiftHttpClient()
        let appWallet = try Wallet.withHttpClient(config: codeFlowConfig(), httpClient: client)
        let before = try await issuerRequestCount()
        let pending = try await appWallet.startIssuance(issuerId: base, configurationIds: ["membership_sd_jwt"], redirectUri: redirectUri)
        try expect(pending.issuerId() == base, "issuer \(pending.issuerId())")
        try expect(pending.credentialConfigurationIds() == ["membership_sd_jwt"], "ids \(pending.credentialConfigurationIds())")
        let sentBeforeBrowser = client.requests.value
        let location = try await browser.authorize(pending.authorizationUrl(), user: "erika", password: "erika-password", allow: true)
        let session = try await pending.complete(wallet: appWallet, redirectUrl: location)
        let credentials = try issued(try await session.requestCredential(wallet: appWallet, configurationId: "membership_sd_jwt", signer: try SwiftSigner()))
        try expectClaim(credentials, "membership_sd_jwt", "member_id", "M-1001", nil)
        // Everything but the browser's three requests went through the Swift client.
        let seen = try await issuerRequestCount() - before
        try expect(sentBeforeBrowser >= 3 && seen == client.requests.value + 3,
                   "the issuer saw \(seen) requests, the Swift client sent \(client.requests.value), the browser 3")
    }

    await check("consent denied throws WalletError.AuthorizationFailed (access_denied)") {
        let codeWallet = try newWallet(config: codeFlowConfig())
        let (pending, location) = try await authorizedRedirect(codeWallet, allow: false)
        try expect(queryParameter(location, "error") == "access_denied", "redirect \(location)")
        try await expectError("AuthorizationFailed naming access_denied", { try await pending.complete(wallet: codeWallet, redirectUrl: location) }) {
            if case .AuthorizationFailed(let details) = $0 { return details.contains("access_denied") }
            return false
        }
    }

    await check("tampered state throws WalletError.AuthorizationFailed; the genuine redirect still works") {
        let codeWallet = try newWallet(config: codeFlowConfig())
        let (pending, location) = try await authorizedRedirect(codeWallet)
        let tampered = location.replacingOccurrences(of: "([?&]state=)[^&]*", with: "$1tampered", options: .regularExpression)
        try expect(tampered != location, "no state in \(location)")
        let requestsBefore = try await issuerRequestCount()
        try await expectError("AuthorizationFailed naming state", { try await pending.complete(wallet: codeWallet, redirectUrl: tampered) }) {
            if case .AuthorizationFailed(let details) = $0 { return details.contains("state") }
            return false
        }
        let requestsAfter = try await issuerRequestCount()
        try expect(requestsAfter == requestsBefore, "a request was sent after a failed state check")
        let session = try await pending.complete(wallet: codeWallet, redirectUrl: location)
        let credentials = try issued(try await session.requestCredential(wallet: codeWallet, configurationId: "pid_sd_jwt", signer: try SwiftSigner()))
        try expectClaim(credentials, "pid_sd_jwt", "given_name", "Erika", nil)
    }

    await check("the same redirect completed twice: InvalidState, and Server(invalid_grant) from a restored copy") {
        let codeWallet = try newWallet(config: codeFlowConfig())
        let (pending, location) = try await authorizedRedirect(codeWallet)
        let saved = try pending.toJson()
        _ = try await pending.complete(wallet: codeWallet, redirectUrl: location)
        // The same object knows it completed: nothing is sent.
        try await expectError("InvalidState", { try await pending.complete(wallet: codeWallet, redirectUrl: location) }) {
            if case .InvalidState(let details) = $0 { return details.contains("already") }
            return false
        }
        // A copy restored from before (e.g. the redirect delivered twice): the AS refuses the used code.
        let copy = try PendingAuthorization.fromJson(json: saved, locales: locales)
        try await expectError("Server invalid_grant", { try await copy.complete(wallet: codeWallet, redirectUrl: location) }) {
            if case .Server(let code, _, let status, _) = $0 { return code == "invalid_grant" && status == 400 }
            return false
        }
    }
}
