// Runs the generated Swift bindings for real against the reference issuer
// (tests/issuer), as an iOS app would use them: a Swift signer, a Swift HTTP
// client (URLSession), typed errors, sessions saved as strings.
//
// Usage: wallet-test <issuer base URL>   (or OID4VCI_ISSUER=<url>)
// Optional, for the DPoP, https and wallet attestation checks (skipped without them):
//   OID4VCI_ISSUER_DPOP=<url>          an issuer run with --require-dpop --dpop-nonce
//   OID4VCI_ISSUER_ATTESTATION=<url>   an issuer run with --wallet-attestation challenge
//                                      --require-dpop --dpop-nonce
//   OID4VCI_ISSUER_HTTPS=<url>         an issuer run with --tls
//   OID4VCI_ISSUER_HTTPS_CERT=<file>   its certificate (PEM, `certificate_pem` of its ready line)
//   OID4VCI_ISSUER_HTTPS_OFFER=<file>  the answer of its POST /test/offers (a pre-authorized PID
//                                      offer with tx_code), made by the caller: URLSession on Linux
//                                      (libcurl) cannot be told to trust an extra certificate
//   OID4VCI_ISSUER_X5C, OID4VCI_ISSUER_X5C_SELF_SIGNED: see TrustChecks.swift
//   OID4VCI_ISSUER_KEY_ATTESTATION, OID4VCI_ISSUER_ATTESTATION_PROOF: see KeyAttestationChecks.swift
//   (the DPoP key store checks in DpopKeyChecks.swift use OID4VCI_ISSUER_DPOP)
// This file is the entry point and the checks of the first flows; the
// harness (signer, HTTP client, issuer endpoints, browser, runner) is
// Harness.swift, and each newer flow has a file of checks (TrustChecks.swift,
// MdocChecks.swift, KeyAttestationChecks.swift, DpopKeyChecks.swift,
// ResumeChecks.swift), called at the end.
// Prints one line per check, then `N passed, M failed`; exits 1 on a failure.
// bindings/test-swift builds it (against the Oid4vciWallet module compiled
// from the generated bindings) and runs it in the Debian trixie chroot.
//
// Linux has no CryptoKit or Security framework (and swift-crypto is not
// available offline), so the Swift signer keeps its P-256 key in the SDK's
// exported `SoftwareSigner` and does the rest itself: it is still a Swift
// object implementing the `Signer` protocol that the SDK calls back, exactly
// where an app would call `SecKeyCreateSignature` on a Secure Enclave key.

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Oid4vciWallet

setvbuf(stdout, nil, _IOLBF, 0)

// --- the checks -----------------------------------------------------------------------------

print("Swift bindings against \(base)")
let wallet = try Wallet(config: config())

await check("pre-authorized with tx_code, Swift signer, display in de") {
    let offer = try await createOffer(txCode: true)
    let resolved = try await wallet.resolveOffer(offerUrl: offer.url)
    try expect(resolved.issuerId() == base, "issuer \(resolved.issuerId())")
    try expect(resolved.grants() == [.preAuthorized], "grants \(resolved.grants())")
    guard let txCode = resolved.txCode() else { throw CheckFailed("no tx_code spec") }
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

await check("wrong tx_code throws WalletError.TxCodeRejected (invalid_grant)") {
    let offer = try await createOffer(txCode: true)
    let resolved = try await wallet.resolveOffer(offerUrl: offer.url)
    let wrong = offer.txCode == "000000" ? "111111" : "000000"
    try await expectError("TxCodeRejected naming invalid_grant", { try await resolved.authorize(wallet: wallet, txCode: wrong) }) {
        if case .TxCodeRejected(let details) = $0 { return details.contains("invalid_grant") }
        return false
    }
}

await check("invalid offer URL throws WalletError.InvalidOffer") {
    for url in ["openid-credential-offer://?nothing=here", "not a url", "openid-credential-offer://?credential_offer=%7Bnope"] {
        try await expectError("InvalidOffer for \(url)", { try await wallet.resolveOffer(offerUrl: url) }) {
            if case .InvalidOffer = $0 { return true }
            return false
        }
    }
}

await check("offer by reference used twice throws WalletError.OfferExpiredOrUsed") {
    let offer = try await createOffer(byReference: true)
    try expect(offer.url.contains("credential_offer_uri"), "not by reference: \(offer.url)")
    _ = try await wallet.resolveOffer(offerUrl: offer.url)
    try await expectError("OfferExpiredOrUsed", { try await wallet.resolveOffer(offerUrl: offer.url) }) {
        if case .OfferExpiredOrUsed = $0 { return true }
        return false
    }
}

await check("unreachable issuer throws WalletError.Network") {
    let json = #"{"credential_issuer":"http://127.0.0.1:9","credential_configuration_ids":["pid_sd_jwt"],"#
        + #""grants":{"urn:ietf:params:oauth:grant-type:pre-authorized_code":{"pre-authorized_code":"x"}}}"#
    let url = "openid-credential-offer://?credential_offer="
        + json.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
    try await expectError("Network", { try await wallet.resolveOffer(offerUrl: url) }) {
        if case .Network = $0 { return true }
        return false
    }
}

await check("save an authorized session, restore it in a fresh Wallet, finish it") {
    let offer = try await createOffer(txCode: true)
    let saved = try await wallet.resolveOffer(offerUrl: offer.url).authorize(wallet: wallet, txCode: offer.txCode).toJson()
    try expect(saved.contains("pid_sd_jwt"), "saved session: no configuration id")
    let freshWallet = try Wallet(config: config())
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
    let freshWallet = try Wallet(config: config())
    let restored = try DeferredCredential.fromJson(json: saved, locales: locales)
    try expectPid(try await restored.pollUntilReady(wallet: freshWallet, deadlineMs: 30_000), signer)
}

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

await check("authorization code flow from an offer: save, restore, sign in as max, Swift signer") {
    let offer = try await createOffer(authorizationCode: true)
    try expect(offer.txCode == nil, "tx_code \(offer.txCode ?? "")")
    let codeWallet = try Wallet(config: codeFlowConfig())
    let resolved = try await codeWallet.resolveOffer(offerUrl: offer.url)
    try expect(resolved.grants() == [.authorizationCode], "grants \(resolved.grants())")
    try expect(resolved.txCode() == nil, "tx_code spec \(String(describing: resolved.txCode()))")
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
    let freshWallet = try Wallet(config: codeFlowConfig())
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
    let codeWallet = try Wallet(config: codeFlowConfig())
    let (pending, location) = try await authorizedRedirect(codeWallet, allow: false)
    try expect(queryParameter(location, "error") == "access_denied", "redirect \(location)")
    try await expectError("AuthorizationFailed naming access_denied", { try await pending.complete(wallet: codeWallet, redirectUrl: location) }) {
        if case .AuthorizationFailed(let details) = $0 { return details.contains("access_denied") }
        return false
    }
}

await check("tampered state throws WalletError.AuthorizationFailed; the genuine redirect still works") {
    let codeWallet = try Wallet(config: codeFlowConfig())
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
    let codeWallet = try Wallet(config: codeFlowConfig())
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

// --- DPoP (an issuer run with --require-dpop --dpop-nonce) -----------------------------

let dpopPreAuthorized = "pre-authorized with tx_code over DPoP with nonces: session saved and restored, Swift signer"
let dpopCodeFlow = "authorization code flow over DPoP: pending authorization saved and restored, sign in as max"
if let dpopBase = environment["OID4VCI_ISSUER_DPOP"].map(trimmed) {
    await check(dpopPreAuthorized) {
        let before = try await issuerStats(dpopBase)
        let offer = try await createOffer(txCode: true, issuer: dpopBase)
        let dpopWallet = try Wallet(config: config())
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
        let freshWallet = try Wallet(config: config())
        let signer = try SwiftSigner()
        try expectPid(try issued(try await restored.requestCredential(wallet: freshWallet, configurationId: "pid_sd_jwt", signer: signer)), signer)
        let after = try await issuerStats(dpopBase)
        func delta(_ name: String) -> Int { (after[name] ?? 0) - (before[name] ?? 0) }
        try expect(delta("dpop_nonce_challenges_as") >= 1, "no use_dpop_nonce from the AS: \(after)")
        try expect(delta("dpop_rejected") == 0, "the issuer rejected DPoP proofs: \(after)")
        try expect(delta("/credential") == 1, "credential requests: \(delta("/credential")) (\(after))")
    }

    await check(dpopCodeFlow) {
        let codeWallet = try Wallet(config: codeFlowConfig())
        let offer = try await createOffer(authorizationCode: true, issuer: dpopBase)
        var pending: PendingAuthorization? = try await codeWallet.resolveOffer(offerUrl: offer.url)
            .beginAuthorization(wallet: codeWallet, redirectUri: redirectUri)
        try expect(pending!.usesDpop(), "the pending authorization does not use DPoP")
        let saved = try pending!.toJson()
        pending = nil
        let restored = try PendingAuthorization.fromJson(json: saved, locales: locales)
        try expect(restored.usesDpop(), "the restored authorization does not use DPoP")
        let location = try await browser.authorize(restored.authorizationUrl(), user: "max", password: "max-password", allow: true)
        let session = try await restored.complete(wallet: try Wallet(config: codeFlowConfig()), redirectUrl: location)
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

// --- wallet attestation (an issuer run with --wallet-attestation challenge --require-dpop --dpop-nonce)

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
        let attested = try Wallet.withAttestation(config: config(), attestationJwt: attestation, signer: platformKey)
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
        let anonymous = try Wallet(config: config())
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
            try Wallet.withAttestation(config: config(), attestationJwt: attestation, signer: try SwiftSigner())
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
            try Wallet.withAttestation(config: codeFlowConfig(), attestationJwt: attestation, signer: platformKey)
        }) {
            if case .Configuration(let details) = $0 { return details.contains("client_id") }
            return false
        }
        try await expectError("Configuration", {
            try Wallet.withAttestation(config: config(), attestationJwt: "not.a.jwt", signer: platformKey)
        }) {
            if case .Configuration = $0 { return true }
            return false
        }
        // Expired: refused before anything is sent; the app fetches a fresh one.
        let expiredAttestation = try await walletAttestation(attestationBase, clientId: "swift-wallet",
                                                              jwk: platformKey.publicJwk(), lifetimeSecs: 0)
        let expired = try Wallet.withAttestation(config: config(), attestationJwt: expiredAttestation, signer: platformKey)
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

// --- https (an issuer run with --tls, its self-signed certificate) ---------------------

let httpsIssuance = "https issuance trusting the issuer's certificate (rootCertificatesPem); without it WalletError.Network"
if let httpsBase = environment["OID4VCI_ISSUER_HTTPS"].map(trimmed),
   let certificateFile = environment["OID4VCI_ISSUER_HTTPS_CERT"],
   let offerFile = environment["OID4VCI_ISSUER_HTTPS_OFFER"] {
    await check(httpsIssuance) {
        let pem = try String(contentsOfFile: certificateFile, encoding: .utf8)
        try expect(pem.hasPrefix("-----BEGIN CERTIFICATE-----"), "not a PEM certificate: \(certificateFile)")
        try expect(httpsBase.hasPrefix("https://"), "not https: \(httpsBase)")
        let created = try jsonObject(try String(contentsOfFile: offerFile, encoding: .utf8))
        guard let offerUrl = created["offer_url"] as? String else { throw CheckFailed("no offer_url in \(created)") }
        // https only (no dangerousAllowHttp), platform roots only: the handshake fails.
        let untrusted = try Wallet(config: WalletConfig(locales: locales))
        try await expectError("Network", { try await untrusted.resolveOffer(offerUrl: offerUrl) }) {
            if case .Network = $0 { return true }
            return false
        }
        // The same offer (by value) with the certificate trusted.
        let trusting = try Wallet(config: WalletConfig(locales: locales, rootCertificatesPem: [pem]))
        let resolved = try await trusting.resolveOffer(offerUrl: offerUrl)
        try expect(resolved.issuerId() == httpsBase, "issuer \(resolved.issuerId())")
        let session = try await resolved.authorize(wallet: trusting, txCode: created["tx_code"] as? String)
        let signer = try SwiftSigner()
        try expectPid(try issued(try await session.requestCredential(wallet: trusting, configurationId: "pid_sd_jwt", signer: signer)), signer)
    }
} else {
    skip(httpsIssuance, "OID4VCI_ISSUER_HTTPS / OID4VCI_ISSUER_HTTPS_CERT / OID4VCI_ISSUER_HTTPS_OFFER not set")
}

await check("unparsable rootCertificatesPem, or with an HttpClient, throws WalletError.Configuration") {
    try await expectError("Configuration", { try Wallet(config: WalletConfig(locales: locales, rootCertificatesPem: ["not a certificate"])) }) {
        if case .Configuration = $0 { return true }
        return false
    }
    let pem = environment["OID4VCI_ISSUER_HTTPS_CERT"].flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }
        ?? "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    try await expectError("Configuration naming HttpClient", {
        try Wallet.withHttpClient(config: WalletConfig(locales: locales, rootCertificatesPem: [pem]), httpClient: SwiftHttpClient())
    }) {
        if case .Configuration(let details) = $0 { return details.contains("HttpClient") }
        return false
    }
}

// --- one file of checks per flow ---------------------------------------------------------

await trustChecks()
await mdocChecks()
await keyAttestationChecks()
await attestationProofChecks()
await dpopKeyChecks()
await resumeChecks()

print("\(passed) passed, \(failed) failed")
exit(failed == 0 ? 0 : 1)
