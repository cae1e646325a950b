// The typed error checks of the Kotlin test program (Harness.kt is the
// harness), against the main issuer: a wrong tx_code (TxCodeRejected naming
// invalid_grant), invalid offer URLs (InvalidOffer), an offer by reference
// used twice (OfferExpiredOrUsed), an unreachable issuer (Network).

import dev.oid4vci.wallet.Wallet
import dev.oid4vci.wallet.WalletException

suspend fun errorChecks(wallet: Wallet) {
    check("wrong tx_code raises WalletException.TxCodeRejected (invalid_grant)") {
        val offer = createOffer(txCode = true)
        val resolved = wallet.resolveOffer(offer.url)
        val wrong = if (offer.txCode == "000000") "111111" else "000000"
        val e = expectThrows<WalletException.TxCodeRejected> { resolved.authorize(wallet, wrong) }
        expect(e.details.contains("invalid_grant")) { "details: ${e.details}" }
    }

    check("invalid offer URL raises WalletException.InvalidOffer") {
        for (url in listOf("openid-credential-offer://?nothing=here", "not a url", "openid-credential-offer://?credential_offer=%7Bnope")) {
            expectThrows<WalletException.InvalidOffer> { wallet.resolveOffer(url) }
        }
    }

    check("offer by reference used twice raises WalletException.OfferExpiredOrUsed") {
        val offer = createOffer(byReference = true)
        expect(offer.url.contains("credential_offer_uri")) { "not by reference: ${offer.url}" }
        wallet.resolveOffer(offer.url)
        expectThrows<WalletException.OfferExpiredOrUsed> { wallet.resolveOffer(offer.url) }
    }

    check("unreachable issuer raises WalletException.Network") {
        val offer = "openid-credential-offer://?credential_offer=" + java.net.URLEncoder.encode(
            """{"credential_issuer":"http://127.0.0.1:9","credential_configuration_ids":["pid_sd_jwt"],""" +
                """"grants":{"urn:ietf:params:oauth:grant-type:pre-authorized_code":{"pre-authorized_code":"x"}}}""",
            "UTF-8",
        )
        expectThrows<WalletException.Network> { wallet.resolveOffer(offer) }
    }
}
