// The issuer-trust checks of the Swift test program (Harness.swift is the
// harness: the runner, the signer, the issuer's test endpoints): credentials
// signed with an x5c chain, verified through the app's trust anchors
// (`WalletConfig.trustAnchorsPem`) or not, and a forgery refused with
// `requireVerified`, the error keeping the credential as issued.
//
// Issuers (skipped without them):
//   OID4VCI_ISSUER_X5C=<url>              an issuer run with --credential-signing x5c
//   OID4VCI_ISSUER_X5C_SELF_SIGNED=<url>  one run with --credential-signing x5c --fault x5c-self-signed
// Each one's trust anchor is its root CA, from its GET /test/trust.

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Oid4vciWallet

/// The issuer's root CA (`GET /test/trust`, PEM): the trust anchor of its x5c chains.
func trustAnchorOf(_ issuer: String) async throws -> String {
    let (data, response) = try await URLSession.shared.data(from: URL(string: "\(issuer)/test/trust")!)
    let pem = String(decoding: data, as: UTF8.self)
    try expect((response as? HTTPURLResponse)?.statusCode == 200, "GET /test/trust: \(pem)")
    try expect(pem.hasPrefix("-----BEGIN CERTIFICATE-----"), "not a PEM certificate: \(pem)")
    return pem
}

/// A wallet for the trust checks: http to loopback, these anchors.
func trustConfig(_ anchors: [String], requireVerified: Bool = false) -> WalletConfig {
    WalletConfig(locales: locales, dangerousAllowHttp: true, trustAnchorsPem: anchors, requireVerified: requireVerified)
}

/// A pre-authorized PID from `issuer`, bound to `signer`'s key.
func receivePid(_ issuer: String, _ config: WalletConfig, _ signer: SwiftSigner) async throws -> [Credential] {
    let wallet = try newWallet(config: config)
    let offer = try await createOffer(issuer: issuer)
    let session = try await wallet.resolveOffer(offerUrl: offer.url).authorize(wallet: wallet, txCode: offer.txCode)
    return try issued(try await session.requestCredential(wallet: wallet, configurationId: "pid_sd_jwt", signer: signer))
}

@MainActor
func trustChecks() async {
    let x5cBase = environment["OID4VCI_ISSUER_X5C"].map(trimmed)
    let selfSignedBase = environment["OID4VCI_ISSUER_X5C_SELF_SIGNED"].map(trimmed)
    let anchored = "x5c issuer with its root in trustAnchorsPem: Verification.verified by trustAnchor"
    let unanchored = "the same x5c issuer without trust anchors: Verification.unverified, the credential delivered"
    let forged = "self-signed x5c forgery, anchor configured, requireVerified: CredentialCheck with the rawCredentials"

    if let x5cBase {
        await check(anchored) {
            let signer = try SwiftSigner()
            let anchor = try await trustAnchorOf(x5cBase)
            let credentials = try await receivePid(x5cBase, trustConfig([anchor], requireVerified: true), signer)
            try expectPid(credentials, signer)
            guard case .verified(let method, let detail) = credentials[0].verification else {
                throw CheckFailed("verification \(credentials[0].verification)")
            }
            try expect(method == .trustAnchor, "method \(method)")
            // The anchor's subject.
            try expect(detail.contains("CN="), "detail \(detail)")
            // Trust anchors are not TLS roots: a wallet on the app's HttpClient takes them.
            _ = try Wallet.withHttpClient(config: trustConfig([anchor]), httpClient: SwiftHttpClient())
        }

        await check(unanchored) {
            let credentials = try await receivePid(x5cBase, trustConfig([]), try SwiftSigner())
            try expect(credentials.count == 1, "expected one credential, got \(credentials.count)")
            let credential = credentials[0]
            guard case .unverified(let reason) = credential.verification else {
                throw CheckFailed("verification \(credential.verification)")
            }
            try expect(reason.contains("anchor"), "reason \(reason)")
            try expect(!credential.signatureVerified, "signatureVerified without a trust anchor")
            let claims = try jsonObject(credential.claimsJson ?? "null")
            try expect(claims["given_name"] as? String == "Erika", "claims \(claims)")
        }
    } else {
        skip(anchored, "OID4VCI_ISSUER_X5C not set")
        skip(unanchored, "OID4VCI_ISSUER_X5C not set")
    }

    if let selfSignedBase {
        await check(forged) {
            let before = try await issuerStats(selfSignedBase)["/notification"] ?? 0
            let config = trustConfig([try await trustAnchorOf(selfSignedBase)], requireVerified: true)
            let error = try await expectError("CredentialCheck", { try await receivePid(selfSignedBase, config, try SwiftSigner()) }) {
                if case .CredentialCheck = $0 { return true }
                return false
            }
            guard case .CredentialCheck(let details, let rejected) = error else {
                throw CheckFailed("expected CredentialCheck, got \(error)")
            }
            let rawCredentials = rejected.rawCredentials()
            let notificationId = rejected.notificationId()
            try expect(details.contains("not verified"), "details: \(details)")
            try expect(rawCredentials.count == 1 && rejected.count() == 1, "rawCredentials: \(rawCredentials.count) entries")
            // The SD-JWT as issued, not a JSON string literal.
            let raw = rawCredentials[0]
            try expect(raw.hasPrefix("ey") && raw.contains("~"), "raw credential \(raw.prefix(40))...")
            try expect(notificationId != nil, "no notificationId")
            // The description (what apps log) carries no credential.
            try expect(!"\(error)".contains(raw) && !String(describing: error).contains(raw), "the description quotes the credential")
            // The wallet told the issuer credential_failure.
            let after = try await issuerStats(selfSignedBase)["/notification"] ?? 0
            try expect(after == before + 1, "notifications: \(before) before, \(after) after")
        }
    } else {
        skip(forged, "OID4VCI_ISSUER_X5C_SELF_SIGNED not set")
    }

    await check("unparsable trustAnchorsPem throws WalletError.Configuration naming the entry") {
        for bad in ["not a certificate", "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"] {
            try await expectError("Configuration naming trust_anchors_pem[0]", { try newWallet(config: trustConfig([bad])) }) {
                if case .Configuration(let details) = $0 { return details.contains("trust_anchors_pem[0]") }
                return false
            }
            // Anchors apply with the app's HttpClient too, so a bad one fails there as well.
            try await expectError("Configuration", {
                try Wallet.withHttpClient(config: trustConfig([bad]), httpClient: SwiftHttpClient())
            }) {
                if case .Configuration = $0 { return true }
                return false
            }
        }
    }
}
