// The https checks of the Swift test program (Harness.swift is the harness):
// the built-in client trusting a test issuer's self-signed certificate
// through `WalletConfig.rootCertificatesPem` (and refusing it without), and
// what that setting refuses. In the app-HTTP run (no built-in client) the
// untrusted half runs on SwiftHttpClient, and Wallet(config:) is refused.
//
// Issuer (the https issuance check is skipped without all three):
//   OID4VCI_ISSUER_HTTPS=<url>         an issuer run with --tls
//   OID4VCI_ISSUER_HTTPS_CERT=<file>   its certificate (PEM, `certificate_pem` of its ready line)
//   OID4VCI_ISSUER_HTTPS_OFFER=<file>  the answer of its POST /test/offers (a pre-authorized PID
//                                      offer with tx_code), made by the caller: URLSession on Linux
//                                      (libcurl) cannot be told to trust an extra certificate

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Oid4vciWallet

@MainActor
func httpsChecks() async {
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
            let untrusted = try newWallet(config: WalletConfig(locales: locales))
            try await expectError("Network", { try await untrusted.resolveOffer(offerUrl: offerUrl) }) {
                if case .Network = $0 { return true }
                return false
            }
            // URLSession on Linux cannot be given the certificate: the trusted
            // half needs the built-in client (Kotlin's app-HTTP run covers it).
            if appHttp { return }
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

    if appHttp {
        await check("without the built-in HTTP client, Wallet(config:) throws WalletError.Configuration naming withHttpClient") {
            try await expectError("Configuration naming withHttpClient", { try Wallet(config: config()) }) {
                if case .Configuration(let details) = $0 {
                    return details.contains("built-in HTTP client") && details.contains("withHttpClient")
                }
                return false
            }
        }
    }
}
