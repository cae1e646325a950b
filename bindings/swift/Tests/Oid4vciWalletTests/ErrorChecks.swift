// The typed error checks of the Swift test program (Harness.swift is the
// harness), against the main issuer: a wrong tx_code (TxCodeRejected naming
// invalid_grant), invalid offer URLs (InvalidOffer), an offer by reference
// used twice (OfferExpiredOrUsed), an unreachable issuer (Network).

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Oid4vciWallet

@MainActor
func errorChecks(_ wallet: Wallet) async {
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
}
